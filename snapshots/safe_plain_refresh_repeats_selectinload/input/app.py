from datetime import datetime

from sqlalchemy import ForeignKey, String, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, selectinload


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


async def rename_board(session: AsyncSession, board_id: int, name: str) -> dict:
    board = (
        await session.scalars(
            select(Board).where(Board.id == board_id).options(selectinload(Board.phases))
        )
    ).one()
    board.name = name
    await session.commit()
    await session.refresh(board)
    return {"name": board.name, "phases": [phase.name for phase in board.phases]}
