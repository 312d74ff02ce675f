"""Scan: types from folders, known paths skipped, nothing hashed."""

from __future__ import annotations

from pathlib import Path

from tests.helpers.service import make_service
from tests.helpers.stage_libraries import CopyLibrary, run_stage1


def test_scan_types_from_folders_skips_known_paths_and_never_hashes(
    copy_lib: CopyLibrary, tmp_path: Path, hash_calls: list[Path]
) -> None:
    data = tmp_path / "data"
    run_stage1(copy_lib.lib, data)
    root = tmp_path / "models"
    layout = {
        "checkpoints/a.safetensors": "checkpoint",
        "Loras/sub/b.safetensors": "lora",
        "embeddings/c.pt": "embedding",
        "vae/d.ckpt": "vae",
        "upscale_models/e.pth": "upscale",
        "misc/f.safetensors": "other",
    }
    for rel in [*layout, "vae/readme.txt"]:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(rel.encode())
    service = make_service(data)
    try:
        first = service.scan([root])
        second = service.scan([root])
        legacy_models = service.scan([copy_lib.lib.models_dir])
        pending = service.pending_models()
        types = {p.path: p.type for p in pending}
    finally:
        service.close()
    assert (first.scanned, first.added, first.skipped) == (6, 6, 0)
    assert (second.scanned, second.added, second.skipped) == (6, 0, 6)
    for rel, kind in layout.items():
        assert types[str((root / rel).resolve())] == kind, rel
    # every legacy model file is already a model or a pending row
    assert legacy_models.added == 0 and legacy_models.skipped == legacy_models.scanned > 0
    assert hash_calls == []
    assert all(p.sha256 is None for p in pending)
