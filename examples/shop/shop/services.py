import logging
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from shop.models import Customer, Order

logger = logging.getLogger(__name__)


class OrderService:
    def __init__(self, db: AsyncSession) -> None:
        self.db = db

    async def place_order(self, customer: Customer, total: Decimal) -> dict:
        order = Order(customer=customer, total=total)
        self.db.add(order)
        await self.db.flush()

        # The status has a Python default and the id comes back from the INSERT: both safe.
        logger.info("order %s placed with status %s", order.id, order.status)
        return {"id": order.id, "status": order.status, "placed_at": order.created_at}

    async def mark_paid(self, order_id: int) -> dict:
        order = await self.db.get(Order, order_id)
        order.status = "paid"
        await self.db.commit()
        return {"id": order.id, "status": order.status}
