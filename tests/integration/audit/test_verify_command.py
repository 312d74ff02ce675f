"""`model-migrate verify` prints the audit report and exits with its code."""

from __future__ import annotations

import json

from click.testing import CliRunner

from backend.cli.verify import verify
from backend.database.migration.images import tier_file_name
from tests.helpers.audit_library import Migrated, sha_of
from tests.helpers.legacy_cases import only


def test_verify_command_prints_the_report_and_exits_with_its_code(lib: Migrated) -> None:
    runner = CliRunner()
    env = {"MODEL_MIGRATE_DATA_DIR": str(lib.data), "MODEL_MIGRATE_DATABASE_URL": lib.url}
    clean = runner.invoke(verify, ["--json"], env=env)
    assert clean.exit_code == 0, clean.output
    payload = json.loads(clean.output)
    assert payload["ok"] is True and payload["run_id"] == lib.run_id
    assert payload["summary"].startswith(f"{len(lib.legacy.rows)} of {len(lib.legacy.rows)}")

    valid = only(lib.legacy, "valid")
    (lib.data / "images" / tier_file_name(sha_of(valid), 0, "low")).unlink()
    human = runner.invoke(verify, [str(lib.run_id)], env=env)
    assert human.exit_code == 1
    assert "tier_missing" in human.output
    assert "1 inconsistency to fix" in human.output

    missing = runner.invoke(verify, ["999"], env=env)
    assert missing.exit_code == 2
