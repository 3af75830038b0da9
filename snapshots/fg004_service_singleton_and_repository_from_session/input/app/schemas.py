from datetime import datetime

from pydantic import BaseModel, ConfigDict


class TaskRename(BaseModel):
    title: str


class TaskOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    title: str
    updated_at: datetime
