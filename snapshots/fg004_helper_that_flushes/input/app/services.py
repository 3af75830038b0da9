from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Base, Organization
from app.schemas import OrganizationCreate


class OrganizationService:
    def __init__(self, db: AsyncSession) -> None:
        self.db = db

    async def _save(self, obj: Base) -> None:
        self.db.add(obj)
        await self.db.flush()

    async def create_organization(self, data: OrganizationCreate) -> Organization:
        org = Organization(name=data.name, slug=data.slug)
        await self._save(org)
        return org
