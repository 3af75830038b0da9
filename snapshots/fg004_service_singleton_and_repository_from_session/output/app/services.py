from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Task
from app.repositories import TaskRepository


class TaskService:
    async def rename(self, session: AsyncSession, task_id: int, title: str) -> Task:
        repository = TaskRepository.from_session(session)
        task = await repository.get(task_id)
        await repository.rename(task, title)
        await session.refresh(task, ["updated_at"])
        return task


task = TaskService()
