from sqlalchemy import String
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Article(Base):
    __tablename__ = "articles"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), server_default="draft")


async def create_article(session: AsyncSession, title: str, status: str) -> dict:
    article = Article(title=title, status=status)
    session.add(article)
    await session.flush()
    return {"id": article.id, "title": article.title, "status": article.status}
