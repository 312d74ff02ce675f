"""The audit (``model-migrate verify``) against the migration it checks, on 10,000 models.

    .venv/bin/python benchmarks/audit.py [--models 10000] [--images 0]

Builds a legacy library of ``--models`` rows without images, runs stage 1 into a fresh library
and times it, then times ``audit`` (default header checks) and ``audit(deep=True)`` of that
run. With ``--images N`` a second library of N models with one 512×768 JPEG each shows the
cost of the tier checks (3 tier files per image: header only, then fully decoded).
Goal: the audit takes well under the migration's own time (≤ 0.25×).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from backend.config import Settings
from backend.database.migration.audit.report import audit
from backend.database.migration.service import MigrationService
from backend.sample.legacy_factory import LegacyLibrary, make_sample_library


def measure(library: LegacyLibrary, data_dir: Path, label: str) -> None:
    """Migrate, then audit twice; print the times and their ratio."""
    service = MigrationService(Settings(data_dir=data_dir, batch_size=200))
    try:
        start = time.perf_counter()
        run = service.start_legacy_run(library.db_path, library.images_dir)
        service.run_until_done(run.id)
        migration = time.perf_counter() - start

        start = time.perf_counter()
        report = audit(service, run.id)
        quick = time.perf_counter() - start

        start = time.perf_counter()
        deep = audit(service, run.id, deep=True)
        thorough = time.perf_counter() - start
    finally:
        service.close()
    rows = len(library.rows)
    print(f"{label}: {rows} legacy rows, {report.counts.tier_files_checked} tier files")
    print(f"  migration (stage 1)   : {migration:8.2f} s")
    print(
        f"  audit                 : {quick:8.2f} s  = {quick / migration:.3f}x the migration"
        f"  exit {report.exit_code}  '{report.summary}'"
    )
    print(
        f"  audit --deep          : {thorough:8.2f} s  = {thorough / migration:.3f}x"
        f"  ({deep.counts.tier_files_decoded} tiers decoded)  exit {deep.exit_code}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--models", type=int, default=10_000)
    parser.add_argument("--images", type=int, default=0)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="mm-audit-") as tmp:
        root = Path(tmp)
        start = time.perf_counter()
        plain = make_sample_library(
            root / "plain", models=args.models, image_size=None, include_cases=False
        )
        print(f"built the legacy library in {time.perf_counter() - start:.1f} s")
        measure(plain, root / "data-plain", "no images")
        if args.images:
            with_images = make_sample_library(
                root / "images",
                models=args.images,
                image_size=(512, 768),
                include_cases=False,
                seed=1,
            )
            measure(with_images, root / "data-images", "with images")
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
