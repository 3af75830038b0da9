from fastapi import APIRouter, Depends, status
from sqlalchemy.ext.asyncio import AsyncSession

from app import services
from app.db import get_db
from app.schemas import UserCreate, UserOut

router = APIRouter(prefix="/users", tags=["users"])


@router.post("/bulk", response_model=list[UserOut], status_code=status.HTTP_201_CREATED)
async def import_users(rows: list[UserCreate], db: AsyncSession = Depends(get_db)):
    return await services.import_users(db, rows)
