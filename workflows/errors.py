"""Errors of the workflow engine.

Steps raise :class:`TransientError` (retry later with backoff) or :class:`StepError`
(fail now with a stable code); the engine raises the others.
"""

from __future__ import annotations


class InvalidTransition(ValueError):
    """The state diagram draws no such move (for example ``retry`` from ``promoted``)."""

    def __init__(self, trigger: str, state: str, reason: str | None = None) -> None:
        message = f"cannot {trigger} from {state}"
        if reason:
            message = f"{message}: {reason}"
        super().__init__(message)
        self.trigger = trigger
        self.state = state


class TransientError(Exception):
    """A step asks to be retried later (exponential backoff, up to ``max_attempts``)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class StepError(Exception):
    """A permanent failure of a step: the item goes ``failed`` at once with ``code``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class LeaseLost(Exception):
    """The driver's lease on an item expired and another driver took it; its result is dropped."""


class NotFound(KeyError):
    """No run or item with that id (a ``KeyError``, so ``except KeyError`` also catches it)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message
