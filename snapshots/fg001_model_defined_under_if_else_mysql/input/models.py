from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import String, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


if TYPE_CHECKING:
    # What type checkers see: the columns and their Python types.
    class Ticket(Base):
        __tablename__ = "tickets"

        id: Mapped[int] = mapped_column(primary_key=True)
        title: Mapped[str]
        opened_at: Mapped[datetime]
else:
    class Ticket(Base):
        __tablename__ = "tickets"

        id: Mapped[int] = mapped_column(primary_key=True)
        title: Mapped[str] = mapped_column(String(200))
        opened_at: Mapped[datetime] = mapped_column(server_default=func.now())
