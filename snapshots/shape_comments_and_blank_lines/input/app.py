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


async def create_organization(session: AsyncSession, name: str) -> dict:
    org = Organization(name=name)
    session.add(org)

    # Flush now so the database assigns the primary key.
    await session.flush()  # INSERT INTO organizations ...

    # The response shape is fixed by the public API.
    response = {
        "id": org.id,
        "name": org.name,  # as given
        "created_at": org.created_at,  # set by the database
    }

    return response
