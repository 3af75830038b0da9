from datetime import datetime

from sqlalchemy import DateTime, String, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Invoice(Base):
    __tablename__ = "invoices"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default="draft")
    updated_at: Mapped[datetime] = mapped_column(
        DateTime, server_default=func.now(), onupdate=func.now()
    )


async def find_invoice(session, number):
    result = await session.execute(select(Invoice).where(Invoice.number == number))
    return result.scalar_one()


async def send_invoice(session: AsyncSession, number: str) -> str:
    invoice = await find_invoice(session, number)
    invoice.status = "sent"
    await session.flush()
    return f"{invoice.number} sent at {invoice.updated_at:%H:%M}"
