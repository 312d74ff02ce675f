"""Item states and conflict strategies as plain enums, without the ``transitions`` machine.

Reads (run status, the CLI's choices) need the names only; :mod:`workflows.machine` builds the
machine on them and re-exports them.
"""

from __future__ import annotations

from enum import StrEnum


class State(StrEnum):
    """Item states; values are the strings stored in ``migration_items.status``."""

    pending = "pending"
    imported = "imported"
    images_processed = "images_processed"
    tags_synced = "tags_synced"
    promoted = "promoted"
    staged = "staged"
    conflicted = "conflicted"
    failed = "failed"
    ignored = "ignored"
    deleted = "deleted"


WORKING = frozenset({State.pending, State.imported, State.images_processed, State.tags_synced})
"""States a driver may claim and advance."""
FINAL = frozenset({State.promoted, State.staged, State.ignored, State.deleted})
"""States nothing leaves."""
WAITING = frozenset({State.conflicted, State.failed})
"""States that need a person (``resolve``) or a ``retry``."""


class Strategy(StrEnum):
    """A decision for a conflicted item: the one list of strategies (CLI, API and guards).

    ``override`` / ``merge`` write the incoming model and re-run the item; ``ignore`` ends it
    untouched; ``delete`` ends it and removes a pending source.
    """

    OVERRIDE = "override"
    MERGE = "merge"
    IGNORE = "ignore"
    DELETE = "delete"


STRATEGIES = tuple(s.value for s in Strategy)
"""Conflict strategies accepted by ``resolve``, as stored strings."""
