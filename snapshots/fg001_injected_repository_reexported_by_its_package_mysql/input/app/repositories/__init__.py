from app.repositories.tasks import TaskRepository

__all__ = ["TaskRepository"]
