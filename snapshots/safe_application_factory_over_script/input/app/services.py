from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Order


async def place_order(session: AsyncSession, sku: str) -> str:
    order = Order(sku=sku)
    session.add(order)
    await session.commit()
    return f"order {order.id} for {order.sku}"
