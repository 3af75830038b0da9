from datetime import datetime

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import get_db
from app.services import TaskService

router = APIRouter(prefix="/tasks", tags=["tasks"])


class TaskRename(BaseModel):
    title: str


class TaskOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    title: str
    updated_at: datetime


@router.put("/{task_id}", response_model=TaskOut)
async def rename_task(task_id: int, data: TaskRename, db: AsyncSession = Depends(get_db)):
    return await TaskService(db).rename(task_id, data.title)
