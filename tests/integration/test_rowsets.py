"""ManyRows: a Core statement as one DB-API executemany on SQLite, parameters as SQLAlchemy
would process them."""

from __future__ import annotations

import pytest
from sqlalchemy import (
    JSON,
    Column,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    create_engine,
    insert,
    select,
    update,
)

from workflows.rowsets import ManyRows

META = MetaData()
THINGS = Table(
    "things",
    META,
    Column("id", Integer, primary_key=True),
    Column("name", String(20)),
    Column("doc", JSON),
)


def test_rows_are_written_with_json_encoded_and_changes_summed() -> None:
    engine = create_engine("sqlite://")
    META.create_all(engine)
    rows = [{"id": n, "name": f"n{n}", "doc": {"n": n, "list": [n, None]}} for n in (1, 2, 3)]
    rename = ManyRows(
        update(THINGS).where(THINGS.c.id == bindparam("k")).values(name=bindparam("v"))
    )
    with engine.begin() as conn:
        assert ManyRows(insert(THINGS), column_keys=["id", "name", "doc"]).execute(conn, rows) == 3
        changed = rename.execute(
            conn, [{"k": 1, "v": "one"}, {"k": 3, "v": "three"}, {"k": 9, "v": "x"}]
        )
        assert changed == 2
        stored = conn.execute(select(THINGS).order_by(THINGS.c.id)).all()
    assert [(r.id, r.name, r.doc) for r in stored] == [
        (1, "one", {"n": 1, "list": [1, None]}),
        (2, "n2", {"n": 2, "list": [2, None]}),
        (3, "three", {"n": 3, "list": [3, None]}),
    ]


def test_a_statement_with_a_literal_bind_is_refused() -> None:
    engine = create_engine("sqlite://")
    META.create_all(engine)
    bump = ManyRows(update(THINGS).where(THINGS.c.id == bindparam("k")).values(id=THINGS.c.id + 1))
    with engine.begin() as conn, pytest.raises(ValueError, match="no literal"):
        bump.execute(conn, [{"k": 1}])
