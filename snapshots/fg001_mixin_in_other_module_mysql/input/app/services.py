from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Project


async def create_project(session: AsyncSession, name: str) -> dict:
    project = Project(name=name)
    session.add(project)
    await session.flush()
    return {"id": project.id, "name": project.name, "created_at": project.created_at.isoformat()}
