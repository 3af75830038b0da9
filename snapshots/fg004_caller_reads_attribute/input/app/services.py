from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Account


async def create_account(db: AsyncSession, owner_email: str) -> Account:
    account = Account(owner_email=owner_email, plan="free")
    db.add(account)
    await db.flush()
    return account
