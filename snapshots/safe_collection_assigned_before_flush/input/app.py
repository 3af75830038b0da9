from sqlalchemy import ForeignKey, String
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    pass


class Order(Base):
    __tablename__ = "orders"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_email: Mapped[str] = mapped_column(String(255))
    lines: Mapped[list["OrderLine"]] = relationship(back_populates="order")


class OrderLine(Base):
    __tablename__ = "order_lines"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"))
    sku: Mapped[str] = mapped_column(String(40))
    quantity: Mapped[int]
    order: Mapped[Order] = relationship(back_populates="lines")


async def place_order(session: AsyncSession, email: str, cart: dict[str, int]) -> dict:
    order = Order(
        customer_email=email,
        lines=[OrderLine(sku=sku, quantity=qty) for sku, qty in cart.items()],
    )
    session.add(order)
    await session.flush()
    return {
        "id": order.id,
        "lines": [{"id": line.id, "sku": line.sku, "qty": line.quantity} for line in order.lines],
    }
