from decimal import Decimal

from sqlalchemy import Computed, Numeric, String
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Product(Base):
    __tablename__ = "products"

    id: Mapped[int] = mapped_column(primary_key=True)
    sku: Mapped[str] = mapped_column(String(32), unique=True)
    price: Mapped[Decimal] = mapped_column(Numeric(10, 2))
    list_price: Mapped[Decimal] = mapped_column(Numeric(10, 2), Computed("price * 2"))


async def create_product(session: AsyncSession, sku: str, price: Decimal) -> dict:
    product = Product(sku=sku, price=price)
    session.add(product)
    await session.flush()
    await session.refresh(product, ["list_price"])
    return {"id": product.id, "sku": product.sku, "list_price": str(product.list_price)}
