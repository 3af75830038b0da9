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
    updated_at: Mapped[datetime | None] = mapped_column(onupdate=func.now())


async def rename_organization(session: AsyncSession, org: Organization, name: str) -> datetime:
    org.name = name
    await session.flush()
    await session.refresh(org, attribute_names=["updated_at"])
    return org.updated_at


async def create_organization(session: AsyncSession, name: str) -> dict:
    org = Organization(name=name)
    session.add(org)
    await session.flush()
    return {"id": org.id, "name": org.name, "created_at": org.created_at}
