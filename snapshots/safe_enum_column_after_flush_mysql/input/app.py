import enum

from sqlalchemy import Enum, String
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class TicketStatus(enum.Enum):
    OPEN = "open"
    CLOSED = "closed"


class Priority(enum.Enum):
    LOW = "low"
    HIGH = "high"


class Ticket(Base):
    __tablename__ = "tickets"

    id: Mapped[int] = mapped_column(primary_key=True)
    subject: Mapped[str] = mapped_column(String(200))
    status: Mapped[TicketStatus] = mapped_column(Enum(TicketStatus), default=TicketStatus.OPEN)
    priority: Mapped[Priority] = mapped_column(Enum(Priority))


async def open_ticket(session: AsyncSession, subject: str, priority: Priority) -> dict:
    ticket = Ticket(subject=subject, priority=priority)
    session.add(ticket)
    await session.flush()
    return {"id": ticket.id, "status": ticket.status.value, "priority": ticket.priority.value}
