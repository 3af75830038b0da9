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


async def import_organizations(session: AsyncSession, names: list[str]) -> list[dict]:
    orgs = [Organization(name=name) for name in names]
    session.add_all(orgs)
    await session.flush()
    return [{"id": o.id, "name": o.name, "created_at": o.created_at} for o in orgs]
