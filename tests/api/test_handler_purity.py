"""migration_handler.py stays a pure controller: no SQL, no sessions, no database modules."""

from __future__ import annotations

import ast
from pathlib import Path

import backend.server.migration_handler as handler

ALLOWED_DATABASE_MODULES = {
    "backend.database.migration.service",
    "backend.database.migration.records",
    "backend.database.migration.results",
    "backend.database.migration.errors",
}
FORBIDDEN_CALLS = {
    "execute", "exec_driver_sql", "scalars", "scalar", "scalar_one", "query", "select",
    "insert", "update", "delete", "session", "sessions", "write_sessions", "Session",
    "sessionmaker", "begin", "commit", "rollback", "connect", "text", "create_engine",
    "make_engine", "make_session_factory", "model_validate",
}  # fmt: skip


def imported_modules(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def called_names(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Attribute):
                names.add(func.attr)
            elif isinstance(func, ast.Name):
                names.add(func.id)
    return names


def violations(source: str) -> list[str]:
    tree = ast.parse(source)
    found = []
    for module in sorted(imported_modules(tree)):
        top = module.split(".")[0]
        if top in {"sqlalchemy", "sqlite3", "psycopg", "alembic", "workflows"}:
            found.append(f"imports {module}")
        is_db = module.startswith("backend.database")
        if is_db and not any(
            module == ok or module.startswith(f"{ok}.") for ok in ALLOWED_DATABASE_MODULES
        ):
            found.append(f"imports {module}")
    found += [f"calls {name}()" for name in sorted(called_names(tree) & FORBIDDEN_CALLS)]
    found += [
        f"try/except at line {node.lineno}" for node in ast.walk(tree) if isinstance(node, ast.Try)
    ]
    return found


def test_the_handler_is_a_pure_controller() -> None:
    source = Path(handler.__file__).read_text()

    assert violations(source) == []


def test_the_checker_catches_what_it_should() -> None:
    bad = """
import sqlalchemy
from sqlalchemy.orm import Session
from backend.database.models import Model
from backend.database import session as db_session
from backend.database.migration.library import LibraryRepository
from backend.database.migration.service import MigrationService

def view():
    try:
        with db_session.make() as s:
            s.execute(select(Model)).scalars()
            s.query(Model)
    except Exception:
        pass
"""

    found = violations(bad)

    assert "imports sqlalchemy" in found
    assert "imports sqlalchemy.orm" in found
    assert "imports backend.database.models" in found
    assert "imports backend.database.session" in found
    assert "imports backend.database.migration.library" in found
    assert not any("service" in v for v in found)
    assert {"calls execute()", "calls scalars()", "calls query()", "calls select()"} <= set(found)
    assert any(v.startswith("try/except") for v in found)


def test_every_view_makes_at_most_one_service_call() -> None:
    tree = ast.parse(Path(handler.__file__).read_text())
    views = [
        node
        for node in tree.body
        if isinstance(node, ast.FunctionDef)
        and any(isinstance(d, ast.Call) for d in node.decorator_list)
    ]
    assert len(views) == 19

    for view in views:
        service_calls = [
            node
            for node in ast.walk(view)
            if isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Call)
            and isinstance(node.func.value.func, ast.Name)
            and node.func.value.func.id == "service"
        ]
        branches = sum(isinstance(n, ast.If) for n in ast.walk(view))
        assert len(service_calls) <= 1 + branches, view.name
