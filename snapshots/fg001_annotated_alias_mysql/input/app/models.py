from sqlalchemy import String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from app.types import intpk, timestamp


class Base(DeclarativeBase):
    pass


class Workspace(Base):
    __tablename__ = "workspaces"

    id: Mapped[intpk]
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[timestamp]
