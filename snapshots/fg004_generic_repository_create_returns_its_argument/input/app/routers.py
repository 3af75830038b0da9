from fastapi import APIRouter, Depends
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import get_db
from app.schemas import TaskCreate, TaskOut
from app.services import create_task

router = APIRouter(prefix="/tasks", tags=["tasks"])


@router.post("", response_model=TaskOut)
async def create(data: TaskCreate, db: AsyncSession = Depends(get_db)):
    return await create_task(db, data.title)
