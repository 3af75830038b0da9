from typing import Self

from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Task


class TaskRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @classmethod
    def from_session(cls, session: AsyncSession) -> Self:
        return cls(session)

    async def get(self, task_id: int) -> Task:
        task = await self.session.get(Task, task_id)
        if task is None:
            raise LookupError(task_id)
        return task

    async def rename(self, task: Task, title: str) -> None:
        task.title = title
        await self.session.flush()
