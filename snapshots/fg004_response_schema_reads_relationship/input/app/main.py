from fastapi import FastAPI

from app.routers import router

app = FastAPI(title="Projects")
app.include_router(router)
