"""Rebuild the search index from the orders table (run by hand)."""

import asyncio

from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from app.models import Order


async def main() -> None:
    engine = create_async_engine("postgresql+asyncpg://shop@db/shop")
    async with async_sessionmaker(engine)() as session:
        for order in (await session.scalars(select(Order))).all():
            print(order.id, order.sku)


if __name__ == "__main__":
    asyncio.run(main())
