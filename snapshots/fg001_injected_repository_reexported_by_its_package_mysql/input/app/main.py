from fastapi import FastAPI

from app.routers import router

app = FastAPI(title="Tasks")
app.include_router(router)
