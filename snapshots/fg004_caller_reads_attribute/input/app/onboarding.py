from sqlalchemy.ext.asyncio import AsyncSession

from app.services import create_account


async def onboard(db: AsyncSession, email: str) -> dict:
    account = await create_account(db, email)
    return {
        "account_id": account.id,
        "email": account.owner_email,
        "plan": account.plan,
        "member_since": account.created_at.isoformat(),
    }
