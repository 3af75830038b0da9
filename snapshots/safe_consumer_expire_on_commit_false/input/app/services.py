from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Product
from app.schemas import ProductCreate


async def create_product(db: AsyncSession, data: ProductCreate) -> Product:
    product = Product(sku=data.sku, name=data.name, price=data.price)
    db.add(product)
    await db.commit()
    return product
