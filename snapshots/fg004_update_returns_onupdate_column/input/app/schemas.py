from datetime import datetime

from pydantic import BaseModel, ConfigDict


class GrantUpdate(BaseModel):
    title: str
    amount: int
    status: str


class GrantOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    title: str
    amount: int
    status: str
    created_at: datetime
    updated_at: datetime
