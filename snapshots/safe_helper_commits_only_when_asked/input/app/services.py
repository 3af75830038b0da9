from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Task


class TaskService:
    def __init__(self, db: AsyncSession) -> None:
        self.db = db

    async def retitle(self, task: Task, title: str, commit: bool = False) -> None:
        task.title = title
        if task and commit:
            await self.db.commit()


async def preview_title(session: AsyncSession, task_id: int, title: str) -> dict:
    task = await session.get(Task, task_id)
    service = TaskService(session)
    await service.retitle(task, title)
    return {"id": task.id, "title": task.title, "updated_at": task.updated_at.isoformat()}
