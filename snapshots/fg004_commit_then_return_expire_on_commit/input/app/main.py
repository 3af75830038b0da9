from fastapi import FastAPI

from app.routers import router

app = FastAPI(title="Shop")
app.include_router(router)
