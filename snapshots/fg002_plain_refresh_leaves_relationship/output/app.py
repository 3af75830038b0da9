from sqlalchemy import ForeignKey, String
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    pass


class Order(Base):
    __tablename__ = "orders"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_email: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(20), server_default="new")
    lines: Mapped[list["OrderLine"]] = relationship(back_populates="order")


class OrderLine(Base):
    __tablename__ = "order_lines"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"))
    sku: Mapped[str] = mapped_column(String(40))
    order: Mapped[Order] = relationship(back_populates="lines")


async def create_order(session: AsyncSession, email: str) -> dict:
    order = Order(customer_email=email)
    session.add(order)
    await session.flush()
    await session.refresh(order)
    await session.refresh(order, ["lines"])
    return {"id": order.id, "status": order.status, "lines": [line.sku for line in order.lines]}
