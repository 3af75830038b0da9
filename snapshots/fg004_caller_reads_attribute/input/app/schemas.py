from pydantic import BaseModel


class AccountCreate(BaseModel):
    email: str
