from typing import Annotated

from fastapi import APIRouter, Depends, status

from app.deps import get_user_service
from app.schemas import UserCreate, UserOut
from app.services import UserService

router = APIRouter(prefix="/users", tags=["users"])


@router.post("", response_model=UserOut, status_code=status.HTTP_201_CREATED)
async def register(
    data: UserCreate, service: Annotated[UserService, Depends(get_user_service)]
):
    return await service.register(data)
