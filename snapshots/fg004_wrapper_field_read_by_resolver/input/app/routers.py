from fastapi import APIRouter, Depends
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import get_db
from app.services import TaskService

router = APIRouter(prefix="/tasks", tags=["tasks"])


class TaskRename(BaseModel):
    title: str


@router.put("/{task_id}")
async def rename_task(task_id: int, data: TaskRename, db: AsyncSession = Depends(get_db)) -> dict:
    view = await TaskService(db).rename(task_id, data.title)
    return view.as_dict()
