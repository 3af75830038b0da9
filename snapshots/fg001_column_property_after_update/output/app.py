from sqlalchemy import ForeignKey, String, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, column_property, mapped_column


class Base(DeclarativeBase):
    pass


class Order(Base):
    __tablename__ = "orders"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    order_count: Mapped[int] = column_property(
        select(func.count(Order.id)).where(Order.customer_id == id).scalar_subquery()
    )


async def rename_customer(session: AsyncSession, customer_id: int, name: str) -> dict:
    customer = await session.get(Customer, customer_id)
    customer.name = name
    await session.flush()
    await session.refresh(customer, ["order_count"])
    return {"id": customer.id, "name": customer.name, "orders": customer.order_count}
