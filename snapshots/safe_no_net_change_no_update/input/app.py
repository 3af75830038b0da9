from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, String, func
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Grant(Base):
    __tablename__ = "grants"

    id: Mapped[int] = mapped_column(primary_key=True)
    role: Mapped[str] = mapped_column(String(32))
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=func.now(), onupdate=func.now())


class AccessLog(Base):
    __tablename__ = "access_logs"

    id: Mapped[int] = mapped_column(primary_key=True)
    grant_id: Mapped[int] = mapped_column(ForeignKey("grants.id"))
    action: Mapped[str] = mapped_column(String(32))


async def record_access(session: AsyncSession, grant_id: int, action: str) -> dict:
    grant = await session.get(Grant, grant_id)
    session.add(AccessLog(grant_id=grant.id, action=action))
    await session.flush()
    return {"grant": grant.id, "role": grant.role, "updated_at": grant.updated_at}
