from datetime import datetime

from sqlalchemy import String
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class PageCounter(Base):
    __tablename__ = "page_counters"

    id: Mapped[int] = mapped_column(primary_key=True)
    path: Mapped[str] = mapped_column(String(200))
    hits: Mapped[int]
    last_visit: Mapped[datetime | None]


async def record_visit(session: AsyncSession, counter_id: int) -> None:
    counter = await session.get(PageCounter, counter_id)
    counter.last_visit = datetime.now()
    await session.commit()
    counter.hits += 1
    await session.commit()
