from sqlalchemy import ForeignKey, String, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, selectinload


class Base(DeclarativeBase):
    pass


class Project(Base):
    __tablename__ = "projects"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    tasks: Mapped[list["Task"]] = relationship(back_populates="project")


class Task(Base):
    __tablename__ = "tasks"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(100))
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"))
    project: Mapped[Project] = relationship(back_populates="tasks")


async def get_project(session: AsyncSession, project_id: int) -> Project:
    query = select(Project).where(Project.id == project_id).options(selectinload(Project.tasks))
    return (await session.execute(query)).scalar_one()


async def rename_project(session: AsyncSession, project_id: int, name: str) -> list[str]:
    project = await get_project(session, project_id)
    project.name = name
    await session.flush()
    return [task.title for task in project.tasks]
