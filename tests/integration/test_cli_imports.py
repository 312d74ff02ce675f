"""The CLI imports what a command needs when it runs: ``--help`` loads click and little else,
``status --json`` on a current library neither Alembic nor Flask nor rich (checked in a new
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

HEAVY = ("sqlalchemy", "flask", "PIL", "alembic", "rich", "pydantic", "pydantic_settings")

LOADED = """
import gc, json, sys
from click.testing import CliRunner

before = {m.split(".")[0] for m in sys.modules}
from backend.cli import main
after_import = {m.split(".")[0] for m in sys.modules}
args = json.loads(sys.argv[1])
if args:
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
print(json.dumps({
    "import": sorted(after_import - before),
    "run": sorted({m.split(".")[0] for m in sys.modules} - before),
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


def test_status_json_on_a_current_library_loads_no_alembic_flask_or_rich(tmp_path: Path) -> None:
    lib = make_sample_library(tmp_path / "legacy", models=12, image_size=None)
    service = build_service(Settings(data_dir=tmp_path / "data"))
    try:
        run = service.start_legacy_run(lib.db_path, lib.images_dir)
        service.run_until_done(run.id, workers=1)
    finally:
        service.close()
    loaded = loaded_by(["status", str(run.id), "--json"], tmp_path / "data")
    assert "sqlalchemy" in loaded["run"]  # it did read the run
    assert [m for m in ("alembic", "flask", "rich") if m in loaded["run"]] == []
    # The service's modules were imported with the collector paused and then frozen; the
    # collector runs again for the command itself.
    assert loaded["collector"] == [True, True]
