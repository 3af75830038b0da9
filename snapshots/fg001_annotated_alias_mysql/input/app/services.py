import logging

from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Workspace

logger = logging.getLogger(__name__)


async def create_workspace(session: AsyncSession, slug: str) -> int:
    workspace = Workspace(slug=slug)
    session.add(workspace)
    await session.flush()
    logger.info(f"workspace {workspace.slug} created at {workspace.created_at}")
    return workspace.id
