from datetime import datetime

from sqlalchemy import DateTime, FetchedValue, String, func
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Grant(Base):
    __tablename__ = "grants"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_email: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(32))
    updated_at: Mapped[datetime] = mapped_column(
        DateTime, server_default=func.now(), server_onupdate=FetchedValue()
    )


async def update_grant(session: AsyncSession, grant_id: int, role: str) -> dict:
    grant = await session.get(Grant, grant_id)
    grant.role = role
    await session.flush()
    await session.refresh(grant, ["updated_at"])
    return {"id": grant.id, "role": grant.role, "updated_at": grant.updated_at}
