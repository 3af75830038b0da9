from fastapi import FastAPI

from app.routers import router

app = FastAPI(title="Grants")
app.include_router(router)
