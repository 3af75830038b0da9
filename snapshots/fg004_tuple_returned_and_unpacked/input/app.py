from datetime import datetime

from sqlalchemy import DateTime, String, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Phase(Base):
    __tablename__ = "phases"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    position: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime, server_default=func.now(), onupdate=func.now()
    )


async def move_to_front(session: AsyncSession, phase_id: int) -> tuple[Phase, str | None]:
    phase = await session.get(Phase, phase_id)
    if phase is None:
        return None, "no such phase"
    phase.position = 0
    await session.flush()
    return phase, None


async def move_and_report(session: AsyncSession, phase_id: int) -> dict:
    phase, error = await move_to_front(session, phase_id)
    if error is not None:
        return {"error": error}
    return {"name": phase.name, "moved_at": phase.updated_at}
