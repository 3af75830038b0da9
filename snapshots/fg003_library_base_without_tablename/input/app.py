from advanced_alchemy.base import UUIDAuditBase
from sqlalchemy import String
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column


class BlogPost(UUIDAuditBase):
    title: Mapped[str] = mapped_column(String(200))


async def publish(session: AsyncSession, title: str) -> str:
    post = BlogPost(title=title)
    session.add(post)
    await session.commit()
    return f"{post.title} ({post.created_at:%Y-%m-%d})"
