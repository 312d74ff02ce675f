"""The library's Core statements for the hot paths, built once (statements on Core tables skip
the ORM's per-statement processing, and a cached statement reuses its compiled form)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any, cast

from sqlalchemy import Connection, Insert, Table, bindparam, delete, func, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from backend.database.models import Model, ModelTag, PendingImport, PendingModelTag, Tag
from backend.database.v2schema import RAISE_TAGS_ID_MAX
from workflows.rowsets import BulkWrite, JsonRows, ManyRows, columns_of

MODELS = cast(Table, Model.__table__)
TAGS = cast(Table, Tag.__table__)
MODEL_TAGS = cast(Table, ModelTag.__table__)
PENDING_TAGS = cast(Table, PendingModelTag.__table__)


MODEL_META = select(func.coalesce(MODELS.c.meta_json, "{}")).where(
    MODELS.c.sha256 == bindparam("sha")
)
SET_META = update(MODELS).where(MODELS.c.sha256 == bindparam("sha"))
PENDING = cast(Table, PendingImport.__table__)
PENDING_BY_ID = select(PENDING).where(PENDING.c.id == bindparam("id"))
PENDING_TAG_NAMES = (
    select(TAGS.c.name)
    .join(PENDING_TAGS, PENDING_TAGS.c.tag_id == TAGS.c.id)
    .where(PENDING_TAGS.c.model_id == bindparam("id"))
    .order_by(TAGS.c.name)
)
SET_PENDING_SHA = (
    update(PENDING).where(PENDING.c.id == bindparam("pid")).values(sha256=bindparam("new"))
)
DELETE_PENDING_TAGS = delete(PENDING_TAGS).where(PENDING_TAGS.c.model_id == bindparam("pid"))
DELETE_PENDING = delete(PENDING).where(PENDING.c.id == bindparam("pid"))
RAISE_TAGS = text(RAISE_TAGS_ID_MAX)
TAG_ID = select(bindparam("sha"), TAGS.c.id).where(TAGS.c.name == bindparam("name"))


@cache
def ignore(dialect: str, table: Table) -> Insert:
    """``INSERT … ON CONFLICT DO NOTHING`` for a dialect (built once, so its compiled form is
    reused)."""
    builder = pg_insert if dialect == "postgresql" else sqlite_insert
    return builder(table).on_conflict_do_nothing()


def insert_ignore(session: Session, table: Table, rows: list[dict[str, object]]) -> None:
    """INSERT … ON CONFLICT DO NOTHING on SQLite and PostgreSQL, one cached statement for
    every row. New tags raise ``db_meta.tags_id_max`` in the same transaction, and only then:
    that upsert locks the one ``db_meta`` row until commit, which would make concurrent
    writers take turns."""
    if not rows:
        return
    conn = session.connection()
    if table is TAGS:
        if conn.execute(new_tag_ids(conn.dialect.name), rows).first() is not None:
            conn.execute(RAISE_TAGS)
    else:
        conn.execute(ignore(conn.dialect.name, table), rows)


@cache
def new_tag_ids(dialect: str) -> Insert:
    """Insert tags unless present, returning the ids of those it inserted (``RETURNING``,
    not ``rowcount``: psycopg reports -1 for this statement)."""
    return ignore(dialect, TAGS).returning(TAGS.c.id)


NEW_MODEL_COLUMNS = ("sha256", "path", "name", "type", "size_bytes", "created_at", "meta_json")
_MODEL_ROWS = JsonRows(columns_of(MODELS, NEW_MODEL_COLUMNS), ordered=True)
_SET_NEW_MODELS = (
    pg_insert(MODELS)
    .from_select(
        list(NEW_MODEL_COLUMNS),
        select(*(_MODEL_ROWS.column(n) for n in NEW_MODEL_COLUMNS)).order_by(_MODEL_ROWS.order),
    )
    .on_conflict_do_nothing()
    .returning(MODELS.c.sha256)
)
_SQLITE_NEW_MODELS = ignore("sqlite", MODELS).returning(MODELS.c.sha256)
"""``RETURNING`` rather than ``rowcount``, as on PostgreSQL (psycopg reports -1 there)."""
_LINK_ROWS = JsonRows([("sha", MODEL_TAGS.c.model_hash.type), ("name", TAGS.c.name.type)])
_SQLITE_LINKS = ManyRows(
    sqlite_insert(MODEL_TAGS).from_select(["model_hash", "tag_id"], TAG_ID).on_conflict_do_nothing()
)
_PG_LINKS = pg_insert(MODEL_TAGS).from_select(
    ["model_hash", "tag_id"],
    select(_LINK_ROWS.column("sha"), TAGS.c.id)
    .select_from(_LINK_ROWS.alias)
    .join(TAGS, TAGS.c.name == _LINK_ROWS.column("name")),
)
_LINKS = BulkWrite(_SQLITE_LINKS, _PG_LINKS.on_conflict_do_nothing(), _LINK_ROWS)
_NEW_MODEL_LINKS = BulkWrite(_SQLITE_LINKS, _PG_LINKS, _LINK_ROWS)


def insert_new_models(conn: Connection, rows: Sequence[dict[str, Any]]) -> set[str]:
    """Insert the models (rows keyed by :data:`NEW_MODEL_COLUMNS`) whose hash is not in the
    library yet; the hashes inserted. One statement over one JSON parameter on PostgreSQL."""
    if conn.dialect.name == "postgresql":
        return set(conn.execute(_SET_NEW_MODELS, _MODEL_ROWS.params(rows)).scalars().all())
    return set(conn.execute(_SQLITE_NEW_MODELS, rows).scalars().all())


def link_tags(conn: Connection, rows: Sequence[dict[str, Any]], *, new_models: bool) -> None:
    """Link models to tags found by name (rows ``{"sha", "name"}``, no pair twice), unless
    linked; one statement over one JSON parameter on PostgreSQL.

    ``new_models``: every model of ``rows`` was inserted in this transaction. PostgreSQL then
    inserts without the conflict check (its foreign key keeps no link whose model is missing,
    so a new model has none yet; the check cost about a sixth of a link's insert). SQLite
    keeps it: a v2 app that does not enforce foreign keys can leave a deleted model's links.
    """
    (_NEW_MODEL_LINKS if new_models else _LINKS).execute(conn, rows)
