from sqlalchemy import Column, DateTime, Integer, String, func
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import declarative_base

Base = declarative_base()


class Organization(Base):
    __tablename__ = "organizations"

    id = Column(Integer, primary_key=True)
    name = Column(String(100), nullable=False)
    created_at = Column(DateTime, server_default=func.now(), nullable=False)


class OrganizationService:
    def __init__(self, db: AsyncSession) -> None:
        self.db = db

    async def create_organization(self, name: str) -> dict:
        org = Organization(name=name)
        self.db.add(org)
        await self.db.flush()
        return {"id": org.id, "name": org.name, "created_at": org.created_at.isoformat()}
