from sqlalchemy import String
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(255), unique=True)
    name: Mapped[str] = mapped_column(String(100))


async def sign_up(session: AsyncSession, email: str, name: str) -> str:
    user = User(email=email, name=name)
    session.add(user)
    await session.commit()
    await session.refresh(user, ["name"])
    return f"Welcome, {user.name}!"
