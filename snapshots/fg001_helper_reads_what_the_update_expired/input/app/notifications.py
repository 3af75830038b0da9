from app.models import Task


def _stamp(task: Task) -> str:
    return task.updated_at.strftime("%Y-%m-%d %H:%M")


def describe(task: Task) -> dict:
    return {"id": task.id, "text": f"{task.title} (changed {_stamp(task)})"}
