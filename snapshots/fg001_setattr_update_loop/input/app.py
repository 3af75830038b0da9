from datetime import datetime

from sqlalchemy import ForeignKey, String, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    pass


class Board(Base):
    __tablename__ = "boards"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    phases: Mapped[list["Phase"]] = relationship(back_populates="board")


class Phase(Base):
    __tablename__ = "phases"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    position: Mapped[int]
    board_id: Mapped[int] = mapped_column(ForeignKey("boards.id"))
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())
    board: Mapped[Board] = relationship(back_populates="phases")


async def update_phase(session: AsyncSession, phase_id: int, changes: dict) -> dict:
    phase = await session.get(Phase, phase_id)
    for key, value in changes.items():
        setattr(phase, key, value)
    await session.flush()
    return {"name": phase.name, "updated_at": phase.updated_at.isoformat()}
