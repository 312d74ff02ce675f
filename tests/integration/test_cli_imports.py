"""The CLI imports what a command needs when it runs: ``--help`` loads click and little else,
``status --json`` on a current library reads through SQLAlchemy Core and pydantic only — no
ORM, pydantic-settings, state machine, Alembic, Pillow, Flask or rich (checked in a new
interpreter, so nothing this test process imported counts)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from backend.bootstrap import build_service
from backend.config import Settings
from backend.sample.legacy_factory import make_sample_library
from tests.helpers.crash_cli import REPO, cli_env

HEAVY = (
    "sqlalchemy",
    "flask",
    "PIL",
    "alembic",
    "rich",
    "pydantic",
    "pydantic_settings",
    "transitions",
)
NOT_FOR_STATUS = (
    "sqlalchemy.orm",
    "pydantic_settings",
    "transitions",
    "alembic",
    "PIL",
    "flask",
    "rich",
    "backend.database.migration.service",
    "backend.database.migration.steps",
    "workflows.store",
    "sqlalchemy.dialects.postgresql",
    "ctypes",
)
"""What ``status`` (on SQLite here) has no use for: each costs it 5-60 ms of start-up."""

LOADED = """
import gc, json, sys
from click.testing import CliRunner

before = {m.split(".")[0] for m in sys.modules}
before_full = set(sys.modules)
from backend.cli import main
after_import = {m.split(".")[0] for m in sys.modules}
args = json.loads(sys.argv[1])
if args:
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
print(json.dumps({
    "import": sorted(after_import - before),
    "run": sorted({m.split(".")[0] for m in sys.modules} - before),
    "modules": sorted(set(sys.modules) - before_full),
    "collector": [gc.isenabled(), gc.get_freeze_count() > 0],
}))
"""


def loaded_by(args: list[str], data_dir: Path) -> dict[str, list[Any]]:
    """Top-level packages a fresh interpreter loads for ``import backend.cli``, then ``args``."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(LOADED), json.dumps(args)],
        env=cli_env(data_dir),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    loaded: dict[str, list[Any]] = json.loads(done.stdout.strip().splitlines()[-1])
    return loaded


def test_importing_the_cli_loads_no_database_web_image_or_console_library(
    tmp_path: Path,
) -> None:
    loaded = loaded_by(["--help"], tmp_path / "data")
    assert [m for m in HEAVY if m in loaded["import"]] == []
    assert [m for m in HEAVY if m in loaded["run"]] == []
    assert not (tmp_path / "data").exists()  # --help reads no settings and opens nothing
    assert loaded["collector"] == [True, False]


def test_status_json_reads_without_the_orm_settings_library_or_machine(tmp_path: Path) -> None:
    lib = make_sample_library(tmp_path / "legacy", models=12, image_size=None)
    service = build_service(Settings(data_dir=tmp_path / "data"))
    try:
        run = service.start_legacy_run(lib.db_path, lib.images_dir)
        service.run_until_done(run.id, workers=1)
    finally:
        service.close()
    for args in (["status", str(run.id), "--json"], ["status", "--json"]):
        loaded = loaded_by(args, tmp_path / "data")
        assert "sqlalchemy" in loaded["run"]  # it did read the run
        assert "backend.database.migration.run_reads" in loaded["modules"]
        assert [m for m in NOT_FOR_STATUS if imported(m, loaded["modules"])] == []
        # The modules were imported with the collector paused and then frozen; the
        # collector runs again for the command itself.
        assert loaded["collector"] == [True, True]


def imported(module: str, modules: list[str]) -> bool:
    """Whether ``module`` or one of its submodules is among ``modules``."""
    return any(m == module or m.startswith(f"{module}.") for m in modules)


def test_a_command_that_needs_the_service_still_pauses_the_collector(tmp_path: Path) -> None:
    lib = make_sample_library(tmp_path / "legacy", models=4, image_size=None, include_cases=False)
    loaded = loaded_by(["legacy", str(lib.db_path), str(lib.images_dir), "--json"], tmp_path)
    assert imported("backend.database.migration.service", loaded["modules"])
    assert imported("sqlalchemy.orm", loaded["modules"])
    assert loaded["collector"] == [True, True]
