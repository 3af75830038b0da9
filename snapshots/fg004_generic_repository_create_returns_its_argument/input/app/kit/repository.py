from typing import Generic, Self, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

M = TypeVar("M")


class RepositoryBase(Generic[M]):
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @classmethod
    def from_session(cls, session: AsyncSession) -> Self:
        return cls(session)

    async def create(self, object: M, *, flush: bool = False) -> M:
        self.session.add(object)
        if flush:
            await self.session.flush()
        return object
