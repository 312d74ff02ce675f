"""The library's Core statements for the hot paths, built once (statements on Core tables skip
the ORM's per-statement processing, and a cached statement reuses its compiled form)."""

from __future__ import annotations

from functools import cache
from typing import cast

from sqlalchemy import Insert, Table, bindparam, delete, func, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from backend.database.models import Model, ModelTag, PendingImport, PendingModelTag, Tag
from backend.database.v2schema import RAISE_TAGS_ID_MAX

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


@cache
def insert_new_model(dialect: str) -> Insert:
    """Insert a model unless its hash exists, returning the hash only when it inserted.

    ``RETURNING`` rather than ``rowcount``: psycopg reports -1 for this statement.
    """
    return ignore(dialect, MODELS).returning(MODELS.c.sha256)


@cache
def ignore_links(dialect: str) -> Insert:
    """Link a model to a tag found by name, unless linked (built once per dialect)."""
    builder = pg_insert if dialect == "postgresql" else sqlite_insert
    return (
        builder(MODEL_TAGS).from_select(["model_hash", "tag_id"], TAG_ID).on_conflict_do_nothing()
    )


def insert_ignore(session: Session, table: Table, rows: list[dict[str, object]]) -> None:
    """INSERT … ON CONFLICT DO NOTHING on SQLite and PostgreSQL, one cached statement for
    every row. New tags raise ``db_meta.tags_id_max`` in the same transaction."""
    if rows:
        conn = session.connection()
        inserted = conn.execute(ignore(conn.dialect.name, table), rows).rowcount
        if table is TAGS and inserted != 0:  # psycopg reports -1: unknown, so raise it
            conn.execute(RAISE_TAGS)
