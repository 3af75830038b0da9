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


async def reorder(session: AsyncSession, order: list[int]) -> list[str]:
    rows = (await session.scalars(select(Phase))).all()
    by_id = {str(p.id): p for p in rows}
    for position, phase_id in enumerate(order):
        by_id[str(phase_id)].position = position
    await session.flush()
    return [by_id[str(pid)].updated_at.isoformat() for pid in order]
