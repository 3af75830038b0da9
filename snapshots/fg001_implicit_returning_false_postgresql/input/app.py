from datetime import datetime
from decimal import Decimal

from sqlalchemy import DateTime, Numeric, String, func
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Invoice(Base):
    __tablename__ = "invoices"
    __table_args__ = {"implicit_returning": False}

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_ref: Mapped[str] = mapped_column(String(64))
    amount: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    status: Mapped[str] = mapped_column(String(16), server_default="draft")
    issued_at: Mapped[datetime] = mapped_column(DateTime, server_default=func.now())


async def create_invoice(session: AsyncSession, customer_ref: str, amount: Decimal) -> dict:
    invoice = Invoice(customer_ref=customer_ref, amount=amount)
    session.add(invoice)
    await session.flush()
    return {
        "id": invoice.id,
        "status": invoice.status,
        "issued_at": invoice.issued_at.isoformat(),
    }
