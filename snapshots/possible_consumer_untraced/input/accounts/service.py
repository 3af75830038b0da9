from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import User


async def create_user(session: AsyncSession, email: str) -> User:
    """Create a user and return it; the caller owns the transaction."""
    user = User(email=email)
    session.add(user)
    await session.flush()
    return user
