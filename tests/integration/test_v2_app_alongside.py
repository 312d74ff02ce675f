"""A migration with images and two workers next to a running v2 app: the v2 app's connection
(sqlite3 defaults, 5 s busy timeout, reading and writing every 100 ms) never gets an error."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from backend.sample.legacy_factory import make_sample_library
from tests.helpers.v2_ddl import make_v2_library, v2_connect

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_a_running_v2_app_never_meets_a_locked_database(tmp_path: Path) -> None:
    data = tmp_path / "v2"
    db = make_v2_library(data, tags=[(3, "mine")])
    lib = make_sample_library(tmp_path / "legacy", models=120, images_per_model=2)
    stop, out = tmp_path / "stop", tmp_path / "v2_app.json"
    app = subprocess.Popen(
        [sys.executable, "-m", "tests.helpers.v2_app_sim", str(db), str(stop), str(out)],
        cwd=REPO,
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODEL_MIGRATE_")}
    env.pop("HIKAZE_DB_PATH", None)
    env["MODEL_MIGRATE_DATA_DIR"] = str(data)
    try:
        migration = subprocess.run(
            [
                sys.executable,
                "-m",
                "backend.cli",
                "legacy",
                str(lib.db_path),
                str(lib.images_dir),
                "--workers",
                "2",
                "--json",
            ],
            env=env,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=600,
        )
    finally:
        stop.touch()
        app.wait(timeout=60)
    assert migration.returncode in (0, 3), migration.stderr
    seen = json.loads(out.read_text())
    assert seen["errors"] == []
    assert seen["rounds"] >= 5
    assert seen["journal"] == "delete"
    conn = v2_connect(db)
    try:
        models = conn.execute("SELECT COUNT(*) FROM models").fetchone()[0]
        app_tags = conn.execute("SELECT COUNT(*) FROM tags WHERE name LIKE 'v2-app-%'").fetchone()
        top = conn.execute("SELECT MAX(id) FROM tags").fetchone()[0]
        stored = conn.execute("SELECT value FROM db_meta WHERE key = 'tags_id_max'").fetchone()
    finally:
        conn.close()
    assert models > 100
    assert app_tags[0] == seen["rounds"]
    assert int(stored[0]) >= top
