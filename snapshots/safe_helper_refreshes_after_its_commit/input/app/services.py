from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Task


class TaskService:
    def __init__(self, db: AsyncSession) -> None:
        self.db = db

    async def rename(self, task: Task, title: str) -> Task:
        task.title = title
        try:
            await self.db.commit()
        except IntegrityError:
            await self.db.rollback()
            raise
        await self.db.refresh(task)
        return task


def describe(task: Task) -> dict:
    return {"id": task.id, "title": task.title, "updated_at": task.updated_at.isoformat()}


async def rename_task(session: AsyncSession, task_id: int, title: str) -> dict:
    service = TaskService(session)
    task = await session.get(Task, task_id)
    renamed = await service.rename(task, title)
    return describe(renamed)
