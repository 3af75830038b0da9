from sqlalchemy import String
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Order(Base):
    __tablename__ = "orders"

    id: Mapped[int] = mapped_column(primary_key=True)
    status: Mapped[str] = mapped_column(String(20))
    note: Mapped[str | None] = mapped_column(String(200))


async def place_order(session: AsyncSession, order_id: int) -> None:
    order = await session.get(Order, order_id)
    order.status = "placed"
    await session.commit()
    order.note = "confirmation email queued"
    await session.commit()
