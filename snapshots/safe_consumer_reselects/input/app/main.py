from fastapi import FastAPI

from app.routers import router

app = FastAPI(title="Accounts")
app.include_router(router)
