from sqlalchemy import ForeignKey, String
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    pass


class Post(Base):
    __tablename__ = "posts"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    comments: Mapped[list["Comment"]] = relationship(back_populates="post")


class Comment(Base):
    __tablename__ = "comments"

    id: Mapped[int] = mapped_column(primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id"))
    body: Mapped[str] = mapped_column(String(2000))
    post: Mapped[Post] = relationship(back_populates="comments")


async def add_comment(session: AsyncSession, post_id: int, body: str) -> dict:
    post = await session.get(Post, post_id)
    session.add(Comment(post=post, body=body))
    await session.flush()
    return {"post_id": post.id, "comment_count": len(post.comments)}
