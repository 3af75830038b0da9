from app.kit.repository import RepositoryBase
from app.models import Task


class TaskRepository(RepositoryBase[Task]):
    pass
