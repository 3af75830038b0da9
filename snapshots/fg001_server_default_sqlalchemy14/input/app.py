from sqlalchemy import Column, DateTime, Integer, String, func
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import declarative_base

Base = declarative_base()


class User(Base):
    __tablename__ = "users"

    id = Column(Integer, primary_key=True)
    email = Column(String(255), unique=True, nullable=False)
    created_at = Column(DateTime, server_default=func.now(), nullable=False)


async def register_user(session: AsyncSession, email: str) -> dict:
    user = User(email=email)
    session.add(user)
    await session.flush()
    return {"id": user.id, "email": user.email, "created_at": user.created_at.isoformat()}
