from datetime import datetime

from sqlalchemy import String, func
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Organization(Base):
    __tablename__ = "organizations"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class UnitOfWork:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session


async def create_organization(uow: UnitOfWork, name: str) -> dict:
    org = Organization(name=name)
    uow.session.add(org)
    await uow.session.flush()
    return {"id": org.id, "name": org.name, "created_at": org.created_at}
