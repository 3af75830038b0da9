from sqlalchemy import String
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Repository(Base):
    __tablename__ = "repositories"

    id: Mapped[int] = mapped_column(primary_key=True)
    origin: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(100))


async def rename_repository(session: AsyncSession, repository_id: int, name: str) -> str:
    repository = await session.get(Repository, repository_id)
    session.expire(repository)
    repository.name = name
    await session.flush()
    return f"{repository.id} {repository.origin} {repository.name}"
