from datetime import datetime

from sqlalchemy import Column, DateTime, func
from sqlmodel import Field, SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession


class Hero(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100)
    created_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime, server_default=func.now())
    )


async def create_hero(session: AsyncSession, name: str) -> dict:
    hero = Hero(name=name)
    session.add(hero)
    await session.flush()
    return {"id": hero.id, "name": hero.name, "created_at": hero.created_at}
