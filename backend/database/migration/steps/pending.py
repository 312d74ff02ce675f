"""A staged legacy row as a pending_import row: one row per path, never a duplicate."""

from __future__ import annotations

from backend.database.migration.library import LibraryRepository
from backend.database.migration.records import PendingMetaJson, Prompts


def _fill(existing: str, incoming: str) -> str:
    return existing if existing.strip() else incoming


def merge_pending_meta(existing: PendingMetaJson, incoming: PendingMetaJson) -> PendingMetaJson:
    """The row already there keeps every value it has; the legacy row fills the empty ones,
    adds its unknown keys and appends its originals (each name once)."""
    return PendingMetaJson(
        description=_fill(existing.description, incoming.description),
        community_links=_fill(existing.community_links, incoming.community_links),
        prompts=Prompts(
            positive=_fill(existing.prompts.positive, incoming.prompts.positive),
            negative=_fill(existing.prompts.negative, incoming.prompts.negative),
        ),
        extra={**incoming.extra, **existing.extra},
        images=list(dict.fromkeys([*existing.images, *incoming.images])),
    )


def stage_pending(
    repo: LibraryRepository,
    *,
    path: str,
    name: str,
    type: str,
    size_bytes: int | None,
    created_at: int,
    meta: PendingMetaJson,
    tags: list[str],
) -> int:
    """Insert the pending row for ``path``, or fill the one already there (a row the v2 app
    or an earlier run made); tags are united by name. Returns the pending id."""
    existing = repo.pending_by_path(path)
    if existing is None:
        pending_id = repo.upsert_pending(
            path=path,
            name=name,
            type=type,
            size_bytes=size_bytes,
            created_at=created_at,
            meta=meta,
        )
    else:
        pending_id = repo.upsert_pending(
            path=path,
            name=_fill(existing.name, name),
            type=_fill(existing.type, type),
            size_bytes=existing.size_bytes if existing.size_bytes is not None else size_bytes,
            created_at=existing.created_at if existing.created_at is not None else created_at,
            meta=merge_pending_meta(existing.meta, meta),
        )
    repo.add_pending_tags(pending_id, tags)
    return pending_id
