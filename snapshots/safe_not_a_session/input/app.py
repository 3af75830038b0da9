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


class ExportWriter:
    """A small buffered async writer (the aiofiles / StreamWriter shape)."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.written: list[str] = []

    def write(self, line: str) -> None:
        self.lines.append(line)

    async def flush(self) -> None:
        self.written.extend(self.lines)
        self.lines.clear()


async def export_organization(session: AsyncSession, writer: ExportWriter, org_id: int) -> dict:
    org = await session.get(Organization, org_id)
    writer.write(f"{org.id},{org.name}\n")
    await writer.flush()
    return {"id": org.id, "exported_at": datetime.now(), "created_at": org.created_at}
