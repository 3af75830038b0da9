from datetime import datetime

from sqlalchemy import String, func
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Organization(Base):
    __tablename__ = "organizations"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class Team(Base):
    __tablename__ = "teams"

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int]
    name: Mapped[str] = mapped_column(String(100))
    since: Mapped[datetime]


async def create_organization(session: AsyncSession, name: str, teams: list[str]) -> int:
    org = Organization(name=name)
    session.add(org)
    await session.flush()
    await session.refresh(org, ["created_at"])
    session.add_all(
        [Team(organization_id=org.id, name=team, since=org.created_at) for team in teams]
    )
    return org.id
