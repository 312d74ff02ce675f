"""Conflict strategies: how an incoming model is combined with the one already in the library.

``override``: incoming non-empty fields replace. ``merge``: incoming fills only empty fields.
Both union tags and append images (done by the tag and image steps). ``ignore`` keeps the
incoming source untouched; ``delete`` removes a pending source.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from backend.database.migration.errors import InvalidInputError
from backend.database.migration.records import MetaJson, ModelRecord, Prompts
from workflows.machine import Strategy

__all__ = ["LEGACY_STRATEGIES", "WRITING_STRATEGIES", "Strategy", "combine", "parse_strategy"]

WRITING_STRATEGIES = frozenset({Strategy.OVERRIDE, Strategy.MERGE})
"""Strategies that write the incoming model into the library."""
LEGACY_STRATEGIES = (Strategy.OVERRIDE, Strategy.MERGE, Strategy.IGNORE)
"""Strategies a legacy row can take (``delete`` removes pending models only)."""


def parse_strategy(value: str | None, allowed: Iterable[Strategy] = Strategy) -> Strategy | None:
    """``value`` as a Strategy (None stays None); InvalidInputError when not in ``allowed``."""
    if value is None:
        return None
    names = [s.value for s in allowed]
    if value not in names:
        raise InvalidInputError(f"unknown strategy {value!r}; one of {', '.join(names)}")
    return Strategy(value)


def _empty(value: object) -> bool:
    return value is None or value == "" or value == {} or value == []


def _pick(existing: Any, incoming: Any, strategy: Strategy) -> Any:
    if strategy is Strategy.OVERRIDE:
        return existing if _empty(incoming) else incoming
    return incoming if _empty(existing) else existing


def combine(existing: ModelRecord, incoming: ModelRecord, strategy: Strategy) -> ModelRecord:
    """The model that results from applying ``strategy`` (override or merge) to a conflict.

    ``images_count`` is kept from the existing model; appended images update it later.
    """
    if strategy not in WRITING_STRATEGIES:
        raise ValueError(f"strategy {strategy} does not write a model")
    old, new = existing.meta, incoming.meta
    extra = dict(old.extra)
    for key, value in new.extra.items():
        # A key only the incoming model has is taken as is (even when empty: never None).
        extra[key] = _pick(extra[key], value, strategy) if key in extra else value
    meta = MetaJson(
        description=_pick(old.description, new.description, strategy),
        community_links=_pick(old.community_links, new.community_links, strategy),
        prompts=Prompts(
            positive=_pick(old.prompts.positive, new.prompts.positive, strategy),
            negative=_pick(old.prompts.negative, new.prompts.negative, strategy),
        ),
        extra=extra,
        images_count=old.images_count,
    )
    return ModelRecord(
        sha256=existing.sha256,
        path=_pick(existing.path, incoming.path, strategy),
        name=_pick(existing.name, incoming.name, strategy),
        type=_pick(existing.type, incoming.type, strategy),
        size_bytes=_pick(existing.size_bytes, incoming.size_bytes, strategy),
        created_at=existing.created_at,
        meta=meta,
        tags=sorted(set(existing.tags) | set(incoming.tags)),
    )
