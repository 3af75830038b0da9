from sqlalchemy.ext.asyncio import AsyncSession

from app.models import User
from app.schemas import UserCreate


async def import_users(db: AsyncSession, rows: list[UserCreate]) -> list[User]:
    users = []
    for row in rows:
        user = User(email=row.email, full_name=row.full_name)
        db.add(user)
        users.append(user)
    await db.flush()
    return users
