"""The management API (a listener for operators) and its admin key."""

from .keys import AdminKeys

__all__ = ["AdminKeys"]
