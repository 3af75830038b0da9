from datetime import datetime

from sqlalchemy import DateTime, String, func
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Order(Base):
    __tablename__ = "orders"

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(32), unique=True)
    placed_at: Mapped[datetime] = mapped_column(DateTime, default=func.now())


async def place_order(session: AsyncSession, reference: str) -> dict:
    order = Order(reference=reference)
    session.add(order)
    await session.flush()
    return {"id": order.id, "reference": order.reference, "placed_at": order.placed_at.isoformat()}
