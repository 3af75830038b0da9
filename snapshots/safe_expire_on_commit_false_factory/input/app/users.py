from sqlalchemy.ext.asyncio import AsyncSession

from app.models import User


async def sign_up(session: AsyncSession, email: str, name: str) -> dict:
    user = User(email=email, name=name)
    session.add(user)
    await session.commit()
    return {"id": user.id, "greeting": f"Welcome, {user.name}!"}
