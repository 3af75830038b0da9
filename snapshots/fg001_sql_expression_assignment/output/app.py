from sqlalchemy import Integer, String, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class PageCounter(Base):
    __tablename__ = "page_counters"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(200), unique=True)
    views: Mapped[int] = mapped_column(Integer, default=0)


async def record_view(session: AsyncSession, slug: str) -> dict:
    result = await session.execute(select(PageCounter).where(PageCounter.slug == slug))
    counter = result.scalar_one()
    counter.views = PageCounter.views + 1
    await session.flush()
    await session.refresh(counter, ["views"])
    return {"slug": counter.slug, "views": counter.views}
