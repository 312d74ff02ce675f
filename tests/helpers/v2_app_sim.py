"""A stand-in for the running v2 app: opens the library as it does and reads and writes every
100 ms until a stop file appears, then writes what it met as JSON.

``python -m tests.helpers.v2_app_sim DB STOP_FILE OUT_JSON``
"""

from __future__ import annotations

import json
import sqlite3
import sys
import time
from pathlib import Path

INTERVAL_S = 0.1


def _tick(conn: sqlite3.Connection, n: int) -> None:
    """One round of what the v2 app does: list the library, then create a tag."""
    conn.execute("SELECT COUNT(*) FROM models").fetchone()
    conn.execute(
        "SELECT sha256, meta_json FROM models ORDER BY created_at DESC LIMIT 50"
    ).fetchall()
    conn.execute("SELECT id, name FROM tags").fetchall()
    conn.execute("SELECT COUNT(*) FROM pending_import").fetchone()
    cur = conn.execute("INSERT INTO tags (name) VALUES (?)", (f"v2-app-{n}",))
    conn.execute(
        "UPDATE db_meta SET value = ? WHERE key = 'tags_id_max' AND CAST(value AS INTEGER) < ?",
        (str(cur.lastrowid), cur.lastrowid),
    )
    conn.commit()


def main(db: Path, stop: Path, out: Path) -> None:
    """Loop until ``stop`` exists; record rounds, errors and the slowest round."""
    conn = sqlite3.connect(db, timeout=5)
    conn.execute("PRAGMA foreign_keys = ON")
    rounds, errors, slowest = 0, [], 0.0
    journal = conn.execute("PRAGMA journal_mode").fetchone()[0]
    while not stop.exists():
        started = time.monotonic()
        try:
            _tick(conn, rounds)
            rounds += 1
        except sqlite3.OperationalError as exc:
            conn.rollback()
            errors.append(str(exc))
        slowest = max(slowest, time.monotonic() - started)
        time.sleep(INTERVAL_S)
    conn.close()
    out.write_text(
        json.dumps({"rounds": rounds, "errors": errors, "slowest_s": slowest, "journal": journal})
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]))
