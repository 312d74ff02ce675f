"""The audit's keyed reads: a page's items, and models or pending rows with their tag links.

Statements are built once per form. On SQLite (with its JSON functions, built in since 3.38)
the keys of one read go as one JSON array parameter that ``json_each`` reads (SQLAlchemy
rendered and bound an expanding ``IN`` list of 500 keys at ~1 µs a key: ~0.15 s of a
100,000-row audit); elsewhere as an expanding ``IN`` list. Either way the database looks each
key up in the same index.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import Connection, Text, bindparam, cast, func, select
from sqlalchemy.exc import DBAPIError

from backend.database.models import Model, ModelTag, PendingImport, PendingModelTag, Tag
from workflows.tables import MigrationItem

ITEM_COLUMNS = (
    MigrationItem.id,
    MigrationItem.run_id,
    MigrationItem.kind,
    MigrationItem.source_key,
    MigrationItem.sha256,
    MigrationItem.status,
    MigrationItem.failed_from_state,
    MigrationItem.strategy,
    MigrationItem.last_error_code,
    MigrationItem.last_error,
    cast(MigrationItem.artifacts, Text),
    cast(MigrationItem.warnings, Text),
)
"""An item's columns; its JSON ones as text, parsed by the audit (quicker than the JSON
type's result processing; most items have no warnings)."""


@dataclass(frozen=True)
class KeyedReads:
    """The statements of one kind of database; each takes its keys as ``keys``."""

    run_items: Any
    """A run's (``run``) items with these source keys."""
    models: tuple[Any, Any]
    """(rows, tag links) of the models with these hashes."""
    pending: tuple[Any, Any]
    """(rows, tag links) of the pending rows with these ids."""
    as_json: bool

    def keys(self, keys: Sequence[Any]) -> Any:
        """The ``keys`` parameter of one execution."""
        return json.dumps(list(keys)) if self.as_json else list(keys)


def keyed_reads(db: Connection) -> KeyedReads:
    """The keyed reads for this connection's database."""
    return _statements(db.dialect.name == "sqlite" and _json_each(db))


def _json_each(db: Connection) -> bool:
    """Whether this SQLite has ``json_each`` (a build without its JSON functions has not)."""
    try:
        db.exec_driver_sql("SELECT count(*) FROM json_each('[]')").scalar()
    except DBAPIError:
        return False
    return True


@cache
def _statements(as_json: bool) -> KeyedReads:

    def among(key: Any) -> Any:
        if as_json:
            return key.in_(select(func.json_each(bindparam("keys")).table_valued("value")))
        return key.in_(bindparam("keys", expanding=True))

    def targets(table: Any, key: Any, link_table: Any, link_key: Any) -> tuple[Any, Any]:
        t = table
        rows = select(key, t.path, t.name, t.type, t.size_bytes, t.created_at, t.meta_json)
        links = select(link_key, Tag.name).join(Tag, Tag.id == link_table.tag_id)
        return rows.where(among(key)), links.where(among(link_key))

    items = select(*ITEM_COLUMNS).where(
        MigrationItem.run_id == bindparam("run"), among(MigrationItem.source_key)
    )
    return KeyedReads(
        run_items=items,
        models=targets(Model, Model.sha256, ModelTag, ModelTag.model_hash),
        pending=targets(PendingImport, PendingImport.id, PendingModelTag, PendingModelTag.model_id),
        as_json=as_json,
    )
