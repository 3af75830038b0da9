from app.models import Task


class TaskView:
    """What the API shows of a task, computed from the row it wraps."""

    def __init__(self, record: Task) -> None:
        self.record = record

    def as_dict(self) -> dict:
        return {"id": self.record.id, "title": self.record.title, "changed": self.changed()}

    def changed(self) -> str:
        return self.record.updated_at.isoformat()
