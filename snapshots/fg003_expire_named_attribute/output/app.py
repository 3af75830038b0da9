from sqlalchemy import String, update
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


async def freeze_account(session: AsyncSession, account_id: int) -> str:
    account = await session.get(Account, account_id)
    await session.execute(update(Account).where(Account.id == account_id).values(status="frozen"))
    session.expire(account, ["status"])
    await session.refresh(account, ["status"])
    return f"{account.name}: {account.status}"
