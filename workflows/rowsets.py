"""Set-based bulk writes for PostgreSQL: many rows as one statement over one JSON parameter.

psycopg runs an ``executemany`` as one statement per row (pipelined): the server binds and
executes each, and with the client on the same cores that is where a bulk write's time goes.
A statement that reads its rows from ``json_to_recordset(:rows)`` does the same writes in one
execution with one parameter, encoded by ``json.dumps`` in C (arrays per column cost psycopg
several times more to send). SQLite keeps ``executemany``, which runs in-process.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import JSON, ColumnElement, Integer, Table, Text, bindparam, cast, column, func
from sqlalchemy.sql.type_api import TypeEngine

ORDER_KEY = "_n"


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
        self.names = tuple(n for n, _ in columns)
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
        return {self.key: json.dumps(rows)}


def columns_of(table: Table, names: Sequence[str]) -> list[tuple[str, TypeEngine[Any]]]:
    """``(name, type)`` of the named columns of ``table`` (JSON columns as ``json``)."""
    return [(n, JSON() if isinstance(table.c[n].type, JSON) else table.c[n].type) for n in names]
