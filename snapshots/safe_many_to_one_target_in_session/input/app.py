from sqlalchemy import ForeignKey, String
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    pass


class Board(Base):
    __tablename__ = "boards"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))


class Phase(Base):
    __tablename__ = "phases"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    board_id: Mapped[int] = mapped_column(ForeignKey("boards.id"))
    board: Mapped[Board] = relationship()


async def add_phase(session: AsyncSession, board_id: int, name: str) -> str:
    board = await session.get(Board, board_id)
    phase = Phase(name=name, board_id=board.id)
    session.add(phase)
    await session.flush()
    return f"{phase.name} on {phase.board.name}"
