from app.models import Task
from app.repositories import TaskRepository


class TaskService:
    def __init__(self, tasks: TaskRepository) -> None:
        self.tasks = tasks

    async def create(self, title: str) -> dict:
        task = Task(title=title)
        await self.tasks.add(task)
        return {"id": task.id, "title": task.title, "created_at": task.created_at.isoformat()}
