from app.models import Task


def _label(task: Task) -> str:
    return task.title.upper()


def describe(task: Task) -> dict:
    return {"id": task.id, "text": _label(task)}
