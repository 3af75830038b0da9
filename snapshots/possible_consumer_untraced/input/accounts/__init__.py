"""Account management for the back office: create and look up users."""

from accounts.service import create_user

__all__ = ["create_user"]
