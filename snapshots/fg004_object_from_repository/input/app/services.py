from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Task
from app.repositories import TaskRepository


class TaskService:
    def __init__(self, db: AsyncSession) -> None:
        self.db = db
        self.tasks = TaskRepository(db)

    async def rename(self, task_id: int, title: str) -> Task:
        task = await self.tasks.get(task_id)
        task.title = title
        await self.db.flush()
        return task
