from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Grant
from app.schemas import GrantUpdate


class GrantService:
    def __init__(self, db: AsyncSession) -> None:
        self.db = db

    async def update_grant(self, grant_id: int, data: GrantUpdate) -> Grant | None:
        grant = await self.db.get(Grant, grant_id)
        if grant is None:
            return None
        grant.title = data.title
        grant.amount = data.amount
        grant.status = data.status
        await self.db.flush()
        await self.db.refresh(grant, ["updated_at"])
        return grant
