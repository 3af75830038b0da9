from fastapi import APIRouter, Depends, status
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app import services
from app.db import get_db
from app.models import User
from app.schemas import UserCreate, UserOut

router = APIRouter(prefix="/users", tags=["users"])


@router.post("", response_model=UserOut, status_code=status.HTTP_201_CREATED)
async def create_user(data: UserCreate, db: AsyncSession = Depends(get_db)):
    user = await services.create_user(db, data)
    stmt = (
        select(User)
        .where(User.id == user.id)
        .execution_options(populate_existing=True)
    )
    user = (await db.execute(stmt)).scalar_one()
    return user
