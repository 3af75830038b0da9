from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

engine = create_async_engine("postgresql+asyncpg://app:app@localhost:5432/app")
SessionLocal = async_sessionmaker(engine, expire_on_commit=False)
