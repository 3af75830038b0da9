"""flushguard: find and fix async SQLAlchemy reads that raise MissingGreenlet."""

__version__ = "0.1.0"
