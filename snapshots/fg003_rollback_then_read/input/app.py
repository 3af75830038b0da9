from sqlalchemy import String
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Account(Base):
    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(20))
    balance: Mapped[int]


async def preview_rename(session: AsyncSession, account_id: int, new_name: str) -> dict:
    account = await session.get(Account, account_id)
    account.name = new_name
    await session.flush()
    await session.rollback()
    return {"id": account_id, "kept_name": account.name}
