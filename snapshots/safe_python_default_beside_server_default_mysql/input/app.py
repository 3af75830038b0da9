from datetime import datetime, timezone

from sqlalchemy import DateTime, String, func, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


class Order(Base):
    __tablename__ = "orders"

    id: Mapped[int] = mapped_column(primary_key=True)
    status: Mapped[str] = mapped_column(String(20), default="new", server_default=text("'new'"))
    placed_at: Mapped[datetime] = mapped_column(DateTime, default=_now, server_default=func.now())


async def place_order(session: AsyncSession) -> dict:
    order = Order()
    session.add(order)
    await session.flush()
    return {"id": order.id, "status": order.status, "placed_at": order.placed_at.isoformat()}
