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


async def import_organizations(session: AsyncSession, names: list[str]) -> list[str]:
    created = []
    for name in names:
        org = Organization(name=name)
        session.add(org)
        await session.flush()
        created.append(f"{org.id}:{org.created_at:%Y-%m-%d}")
    return created
