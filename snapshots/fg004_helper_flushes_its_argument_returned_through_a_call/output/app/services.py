from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Task


class TaskService:
    def __init__(self, db: AsyncSession) -> None:
        self.db = db

    async def _amend(self, task: Task, title: str) -> Task:
        task.title = title
        await self.db.flush()
        await self.db.refresh(task, ["updated_at"])
        return task

    async def rename(self, task_id: int, title: str) -> Task:
        task = await self.db.get(Task, task_id)
        return await self._amend(task, title)
