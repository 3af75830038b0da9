from fastapi import APIRouter, Depends, HTTPException, status
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import get_db
from app.schemas import GrantOut, GrantUpdate
from app.services import GrantService

router = APIRouter(prefix="/grants", tags=["grants"])


@router.put("/{grant_id}", response_model=GrantOut)
async def update_grant(grant_id: int, data: GrantUpdate, db: AsyncSession = Depends(get_db)):
    grant = await GrantService(db).update_grant(grant_id, data)
    if grant is None:
        raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail="Grant not found")
    return grant
