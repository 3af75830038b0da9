from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import SessionLocal
from app.models import Limit


async def read_limits(session: AsyncSession, names: list[str]) -> list[Limit]:
    result = await session.execute(select(Limit).where(Limit.name.in_(names)))
    return list(result.scalars().all())


async def try_acquire(session: AsyncSession, names: list[str]) -> str:
    limits = await read_limits(session, names)
    async with SessionLocal() as other:
        await other.execute(select(Limit.id))
        await other.rollback()
    return ", ".join(f"{lim.name}: {lim.active}/{lim.limit}" for lim in limits)
