"""A `logging.Filter` that explains a MissingGreenlet in any log record that carries one.

    handler.addFilter(GreenletErrorFilter())

A record whose `exc_info` holds a MissingGreenlet (raw or wrapped, see `explain`) gets the
explanation's fields, and by default its message gains the summary line, so that a production
log says

    Exception in ASGI application
    GREENLET ERROR: Order.created_at, unloaded by the flush at app/services.py:18

Every record gets the fields (empty for records without such an exception), so a formatter may
name them (`%(flushguard_summary)s`) without failing on other records. The filter never drops a
record and never raises: an explanation that cannot be built leaves the record as it was.
"""

from __future__ import annotations

import logging

#: The attributes the filter sets on every record (an empty string when there is nothing to say).
FIELDS = (
    "flushguard_summary",
    "flushguard_model",
    "flushguard_attribute",
    "flushguard_site",
    "flushguard_site_kind",
    "flushguard_reason",
    "flushguard_code",
    "flushguard_fix",
    "flushguard_read",
)


class GreenletErrorFilter(logging.Filter):
    """Adds the explanation of a MissingGreenlet to the log records that carry one.

    `annotate=False` leaves the message alone and only sets the fields (for structured logs);
    the explanation itself, a frozen `Explanation`, is `record.flushguard` (None otherwise).
    """

    def __init__(self, name: str = "", annotate: bool = True) -> None:
        super().__init__(name)
        self.annotate = annotate

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "flushguard", None) is not None:
            return True  # a second handler with the same filter: already done
        explanation = None
        exc_info = record.exc_info
        if exc_info and isinstance(exc_info, tuple) and isinstance(exc_info[1], BaseException):
            try:
                from codemods.runtime import explain

                explanation = explain(exc_info[1])
            except Exception:  # a log call must never fail because of the explanation
                explanation = None
        record.flushguard = explanation
        for field in FIELDS:
            setattr(record, field, "")
        if explanation is None:
            return True
        record.flushguard_summary = explanation.summary()
        record.flushguard_model = explanation.model
        record.flushguard_attribute = explanation.attribute
        record.flushguard_code = explanation.code
        record.flushguard_reason = explanation.reason
        record.flushguard_fix = explanation.fix or ""
        read = explanation.read
        record.flushguard_read = str(read) if read else (explanation.reader or "")
        if explanation.site is not None:
            record.flushguard_site = str(explanation.site)
            record.flushguard_site_kind = explanation.site.kind
        if self.annotate:
            try:
                message = record.getMessage()
            except Exception:  # arguments that do not fit the format: logging reports that
                return True
            record.msg = f"{message}\n{explanation.summary()}"
            record.args = ()
        return True
