from fastapi import FastAPI

from app.routers import router

app = FastAPI(title="Organizations")
app.include_router(router)
