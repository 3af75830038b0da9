from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Task


class TaskRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, task: Task) -> None:
        self.session.add(task)
        await self.session.flush()
