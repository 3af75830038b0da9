import enum

from sqlalchemy import Enum, String
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Ticket(Base):
    __tablename__ = "tickets"

    class Status(enum.Enum):
        OPEN = "open"
        CLOSED = "closed"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    status: Mapped[Status] = mapped_column(Enum(Status), server_default="OPEN")


async def open_ticket(session: AsyncSession, title: str) -> dict:
    ticket = Ticket(title=title, status=Ticket.Status.OPEN)
    session.add(ticket)
    await session.flush()
    return {"id": ticket.id, "status": ticket.status.value}
