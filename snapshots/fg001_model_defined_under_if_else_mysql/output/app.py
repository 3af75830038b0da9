from sqlalchemy.ext.asyncio import AsyncSession

from models import Ticket


async def open_ticket(session: AsyncSession, title: str) -> str:
    ticket = Ticket(title=title)
    session.add(ticket)
    await session.flush()
    await session.refresh(ticket, ["opened_at"])
    return f"#{ticket.id} opened at {ticket.opened_at:%H:%M}"
