from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Task
from app.repositories import TaskRepository


async def create_task(session: AsyncSession, title: str) -> Task:
    repository = TaskRepository.from_session(session)
    task = await repository.create(Task(title=title), flush=True)
    await session.refresh(task, ["created_at"])
    return task
