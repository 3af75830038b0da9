from fastapi import APIRouter, Depends
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import get_db
from app.schemas import TaskOut, TaskRename
from app.services import TaskService

router = APIRouter(prefix="/tasks", tags=["tasks"])


@router.put("/{task_id}", response_model=TaskOut)
async def rename_task(task_id: int, data: TaskRename, db: AsyncSession = Depends(get_db)):
    return await TaskService(db).rename(task_id, data.title)
