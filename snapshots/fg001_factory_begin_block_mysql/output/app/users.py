from app.db import SessionLocal
from app.models import User


async def register_user(email: str) -> dict:
    user = User(email=email)
    async with SessionLocal.begin() as session:
        session.add(user)
        await session.flush()
        await session.refresh(user, ["created_at"])
    return {"email": user.email, "created_at": user.created_at.isoformat()}
