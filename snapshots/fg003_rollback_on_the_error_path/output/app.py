from sqlalchemy import String
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(255), unique=True)
    name: Mapped[str] = mapped_column(String(100))


async def sign_up(session: AsyncSession, current: User, email: str) -> str:
    user = User(email=email, name="x")
    session.add(user)
    try:
        await session.flush()
    except IntegrityError:
        await session.rollback()
        await session.refresh(current, ["name"])
        return f"{current.name} could not add {email}"
    return user.email
