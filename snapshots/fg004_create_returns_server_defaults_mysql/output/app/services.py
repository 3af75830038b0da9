from sqlalchemy.ext.asyncio import AsyncSession

from app.models import User
from app.schemas import UserCreate


async def create_user(db: AsyncSession, data: UserCreate) -> User:
    user = User(email=data.email, full_name=data.full_name)
    db.add(user)
    await db.flush()
    await db.refresh(user, ["created_at"])
    return user
