from fastapi import FastAPI

from app.routers import router

app = FastAPI(title="Onboarding")
app.include_router(router)
