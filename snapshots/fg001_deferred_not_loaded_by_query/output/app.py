from sqlalchemy import String
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Document(Base):
    __tablename__ = "documents"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    summary: Mapped[str | None] = mapped_column(String(2000), deferred=True)


async def retitle_document(session: AsyncSession, document_id: int, title: str) -> dict:
    document = await session.get(Document, document_id)
    document.title = title
    await session.flush()
    await session.refresh(document, ["summary"])
    return {"id": document.id, "title": document.title, "summary": document.summary}
