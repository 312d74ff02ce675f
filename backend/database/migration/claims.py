"""How much work one claim takes: promotion items by the bytes they will hash.

A batch of big files claimed by one worker keeps it busy while the others have nothing left
to claim; so a claim of pending models stops at :data:`PROMOTION_BYTES` of files still to
hash (at least one item), while a claim of small files is bounded by its count as before.
"""

from __future__ import annotations

from sqlalchemy import Integer, and_, case, cast, select

from backend.database.migration.library_statements import PENDING
from backend.database.migration.results import RunKind
from workflows.claiming import ClaimWeight
from workflows.fence import ITEMS
from workflows.machine import State

PROMOTION_BYTES = 256 * 1024 * 1024
"""About a quarter of a second of hashing with a warm page cache."""

_PENDING_SIZE = (
    select(PENDING.c.size_bytes)
    .where(PENDING.c.id == cast(ITEMS.c.source_key, Integer))
    .scalar_subquery()
)


def claim_weight(budget: int = PROMOTION_BYTES) -> ClaimWeight:
    """Weight of an item: the size of the file a pending promotion item still has to hash
    (none once its hash is known); every other item weighs nothing."""
    to_hash = and_(
        ITEMS.c.kind == RunKind.PROMOTION.value,
        ITEMS.c.status == State.pending.value,
        ITEMS.c.sha256.is_(None),
    )
    return ClaimWeight(weight=case((to_hash, _PENDING_SIZE), else_=0), budget=budget)
