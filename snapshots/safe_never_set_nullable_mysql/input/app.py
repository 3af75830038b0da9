from datetime import datetime

from sqlalchemy import DateTime, String
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class SupportCase(Base):
    __tablename__ = "support_cases"

    id: Mapped[int] = mapped_column(primary_key=True)
    subject: Mapped[str] = mapped_column(String(200))
    assignee_email: Mapped[str | None] = mapped_column(String(255))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime)


async def open_case(session: AsyncSession, subject: str) -> dict:
    support_case = SupportCase(subject=subject)
    session.add(support_case)
    await session.flush()
    return {
        "id": support_case.id,
        "subject": support_case.subject,
        "assignee": support_case.assignee_email,
        "closed_at": support_case.closed_at,
    }
