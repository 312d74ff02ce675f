"""Bulk writes of many rows, the fast way on each database.

PostgreSQL (:class:`JsonRows`): psycopg runs an ``executemany`` as one statement per row
(pipelined) and the server binds and executes each; with the client on the same cores that is
where a bulk write's time went. A statement that reads its rows from ``json_to_recordset``
does the same writes in one execution with one parameter, encoded by :func:`encode_json`
(arrays per column cost psycopg several times more to send).

SQLite (:class:`ManyRows`): ``executemany`` runs in-process and is fast; what cost more was
SQLAlchemy's per-row parameter processing around it, which a statement compiled once skips.

:class:`BulkWrite` pairs the two forms of one write and runs the one for the connection's
database. A plain insert (:class:`BulkInsert`) is a ``COPY`` on PostgreSQL (:class:`CopyRows`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from operator import itemgetter
from typing import Any

from pydantic_core import PydanticSerializationError, to_json
from sqlalchemy import (
    JSON,
    ColumnElement,
    Connection,
    Insert,
    Integer,
    Table,
    Text,
    Update,
    bindparam,
    cast,
    column,
    func,
    insert,
)
from sqlalchemy.sql.type_api import TypeEngine

ORDER_KEY = "_n"


def encode_json(value: Any) -> str:
    """``value`` as JSON text, read back as ``json.dumps(value)`` would be.

    pydantic-core's encoder (Rust) takes a fifth of the time ``json.dumps`` takes on a group's
    rows. It writes non-ASCII characters as they are (not as escapes) and NaN and infinities
    as ``json.dumps`` does; a string it cannot encode (a lone surrogate) or a value of a type
    it does not know goes through ``json.dumps``, which escapes the one and rejects the other
    as before.
    """
    try:
        return to_json(value, inf_nan_mode="constants").decode()
    except PydanticSerializationError:
        return json.dumps(value)


class JsonRows:
    """Rows sent as one JSON array of objects, readable as ``rows.column(NAME)``.

    With ``ordered``, each row also gets its position (:attr:`order`), for statements whose
    outcome depends on the order of the rows (``ON CONFLICT DO NOTHING``: the first wins).
    """

    def __init__(
        self,
        columns: Sequence[tuple[str, TypeEngine[Any]]],
        *,
        name: str = "v",
        ordered: bool = False,
    ) -> None:
        self.ordered = ordered
        declared = [column(n, t) for n, t in columns]
        if ordered:
            declared.append(column(ORDER_KEY, Integer()))
        self.alias = (
            func.json_to_recordset(cast(bindparam(f"{name}_rows", type_=Text()), JSON))
            .table_valued(*declared)
            .render_derived(name=name, with_types=True)
        )
        self.key = f"{name}_rows"

    def column(self, name: str) -> ColumnElement[Any]:
        """The column ``name`` of the rows."""
        return self.alias.c[name]

    @property
    def order(self) -> ColumnElement[Any]:
        """The position of each row, from 0 (only with ``ordered``)."""
        return self.alias.c[ORDER_KEY]

    def params(self, rows: Sequence[Mapping[str, Any]]) -> dict[str, str]:
        """The statement's parameter: the rows (keyed by column name) as one JSON text."""
        if self.ordered:
            rows = [{**row, ORDER_KEY: n} for n, row in enumerate(rows)]
        return {self.key: encode_json(rows)}


def columns_of(table: Table, names: Sequence[str]) -> list[tuple[str, TypeEngine[Any]]]:
    """``(name, type)`` of the named columns of ``table`` (JSON columns as ``json``)."""
    return [(n, JSON() if isinstance(table.c[n].type, JSON) else table.c[n].type) for n in names]


class ManyRows:
    """A Core statement run as one DB-API ``executemany`` on SQLite, without SQLAlchemy's
    per-row parameter processing (which cost more than SQLite's own work on the hot path).

    The statement is compiled once per dialect into its positional SQL; each row (a mapping
    with every bind name of the statement) becomes a tuple in the statement's parameter
    order, with the bind processors SQLAlchemy would run (JSON encoding) applied here.
    """

    def __init__(
        self, statement: Insert | Update, column_keys: Sequence[str] | None = None
    ) -> None:
        self.statement = statement
        self.column_keys = list(column_keys) if column_keys is not None else None
        self._compiled: dict[str, tuple[str, Callable[[Any], Any], list[tuple[int, Any]]]] = {}

    def execute(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> int:
        """Run the statement once per row; how many rows it changed in all."""
        if not rows:
            return 0
        sql, get, processors = self._compiled.get(conn.dialect.name) or self._compile(conn)
        if processors:
            params: list[Any] = []
            for row in rows:
                values = list(get(row))
                for index, process in processors:
                    values[index] = process(values[index])
                params.append(tuple(values))
        else:
            params = [get(row) for row in rows]
        return int(conn.exec_driver_sql(sql, params).rowcount)

    def _compile(self, conn: Connection) -> tuple[str, Callable[[Any], Any], list[tuple[int, Any]]]:
        compiled = self.statement.compile(dialect=conn.dialect, column_keys=self.column_keys)
        names = list(compiled.positiontup or ())
        literal = [n for n in names if not compiled.binds[n].required]
        if literal or len(names) < 2:
            raise ValueError(f"ManyRows needs two or more row binds and no literal: {literal}")
        processors = []
        for index, name in enumerate(names):
            processor = compiled.binds[name].type.bind_processor(conn.dialect)
            if processor is not None:
                processors.append((index, processor))
        shape = (compiled.string, itemgetter(*names), processors)
        self._compiled[conn.dialect.name] = shape
        return shape


class BulkWrite:
    """One bulk write, the fast way on each database: ``many`` on SQLite, ``statement`` over
    ``rows`` on PostgreSQL (rows keyed by the names both expect)."""

    def __init__(self, many: ManyRows, statement: Insert | Update, rows: JsonRows) -> None:
        self.many = many
        self.statement = statement
        self.rows = rows

    def execute(self, conn: Connection, rows: Sequence[Mapping[str, Any]], **params: Any) -> int:
        """Write ``rows``; how many rows changed. ``params`` are the statement's own binds on
        PostgreSQL (SQLite's ``executemany`` takes them from each row)."""
        if not rows:
            return 0
        if conn.dialect.name == "postgresql":
            return int(conn.execute(self.statement, {**self.rows.params(rows), **params}).rowcount)
        return self.many.execute(conn, rows)


class CopyRows:
    """A plain insert on PostgreSQL as one ``COPY ... FROM STDIN`` in the caller's
    transaction: the cheapest way in for the server (no statement to parse and plan per
    group, no JSON to take apart) and, with psycopg's C row formatter, for the client. Rows
    are stored in the order given (serial ids follow it). JSON columns are encoded here."""

    def __init__(self, table: Table, columns: Sequence[str]) -> None:
        self.table = table
        self.columns = tuple(columns)
        self._get = itemgetter(*self.columns)
        self._json = [n for n, c in enumerate(self.columns) if isinstance(table.c[c].type, JSON)]
        self._sql: str | None = None

    def execute(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> int:
        """Copy ``rows`` into the table; how many rows were written."""
        if not rows:
            return 0
        sql = self._sql or self._compile(conn)
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            with cursor.copy(sql) as copy:
                for row in rows:
                    values = self._get(row)
                    if self._json:
                        values = list(values)
                        for index in self._json:
                            value = values[index]
                            # Most events' detail and a new item's warnings and artifacts
                            # are empty: skip the encoder for them.
                            values[index] = (
                                "{}" if value == {} else "[]" if value == [] else encode_json(value)
                            )
                    copy.write_row(values)
        finally:
            cursor.close()
        return len(rows)

    def _compile(self, conn: Connection) -> str:
        quote = conn.dialect.identifier_preparer.quote
        names = ", ".join(quote(c) for c in self.columns)
        self._sql = f"COPY {quote(self.table.name)} ({names}) FROM STDIN"
        return self._sql


class BulkInsert:
    """A plain insert of many rows: ``COPY`` on PostgreSQL, ``executemany`` on SQLite."""

    def __init__(self, table: Table, columns: Sequence[str]) -> None:
        self.many = ManyRows(insert(table), column_keys=columns)
        self.copy = CopyRows(table, columns)

    def execute(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> int:
        """Insert ``rows`` in the given order (ids follow it); how many were inserted."""
        if not rows:
            return 0
        if conn.dialect.name == "postgresql":
            return self.copy.execute(conn, rows)
        return self.many.execute(conn, rows)
