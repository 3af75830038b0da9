from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Task
from app.views import TaskView


class TaskService:
    def __init__(self, db: AsyncSession) -> None:
        self.db = db

    async def rename(self, task_id: int, title: str) -> TaskView:
        task = await self.db.get(Task, task_id)
        task.title = title
        await self.db.flush()
        await self.db.refresh(task, ["updated_at"])
        return TaskView(task)
