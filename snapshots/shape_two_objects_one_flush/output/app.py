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


class AuditEvent(Base):
    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    action: Mapped[str] = mapped_column(String(50))
    target: Mapped[str] = mapped_column(String(100))
    recorded_at: Mapped[datetime] = mapped_column(server_default=func.now())


async def create_organization(session: AsyncSession, name: str) -> dict:
    org = Organization(name=name)
    event = AuditEvent(action="organization.created", target=name)
    session.add(org)
    session.add(event)
    await session.flush()
    await session.refresh(org, ["created_at"])
    await session.refresh(event, ["recorded_at"])
    return {
        "organization": {"id": org.id, "created_at": org.created_at},
        "audit": {"id": event.id, "recorded_at": event.recorded_at},
    }
