from sqlalchemy.ext.asyncio import AsyncSession

from app.models import User
from app.schemas import UserCreate


class UserService:
    def __init__(self, db: AsyncSession) -> None:
        self.db = db

    async def register(self, data: UserCreate) -> User:
        user = User(email=data.email, full_name=data.full_name)
        self.db.add(user)
        await self.db.flush()
        await self.db.refresh(user, ["created_at"])
        return user
