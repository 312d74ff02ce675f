"""Walk model folders and register new files as pending models (never hashes).

With import roots set, a file is taken only when its *resolved* path (symlinks followed) is a
regular file inside a root: a ``root/models/x.safetensors`` symlink to ``/etc/shadow`` is
skipped, and so is a FIFO or device (which would block or never end when hashed).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

DEFAULT_EXTENSIONS = (".safetensors", ".ckpt", ".pt", ".pth", ".bin", ".gguf", ".onnx")

FOLDER_TYPES = {
    "checkpoints": "checkpoint",
    "checkpoint": "checkpoint",
    "stable-diffusion": "checkpoint",
    "loras": "lora",
    "lora": "lora",
    "embeddings": "embedding",
    "embedding": "embedding",
    "textual_inversion": "embedding",
    "vae": "vae",
    "upscale_models": "upscale",
    "upscale": "upscale",
    "esrgan": "upscale",
    "ultralytics": "ultralytics",
}


def type_for(path: Path, root: Path) -> str:
    """Model type from the nearest known folder name between ``root`` and the file."""
    for part in reversed(path.relative_to(root).parts[:-1]):
        known = FOLDER_TYPES.get(part.lower())
        if known:
            return known
    return FOLDER_TYPES.get(root.name.lower(), "other")


def walk_models(dirs: Iterable[Path], extensions: Iterable[str]) -> Iterator[tuple[Path, Path]]:
    """Yield (root, file) for every model file under the given folders, sorted per folder."""
    wanted = {e.lower() if e.startswith(".") else f".{e.lower()}" for e in extensions}
    for root in dirs:
        for folder, subdirs, files in os.walk(root):
            subdirs.sort()
            for name in sorted(files):
                if Path(name).suffix.lower() in wanted:
                    yield root, Path(folder) / name


def inside_roots(path: Path | str, roots: Sequence[Path] | None) -> bool:
    """True when ``path``, resolved (symlinks followed), is inside one of ``roots`` (resolved
    too); always True when no roots are set."""
    if not roots:
        return True
    try:
        resolved = Path(os.path.realpath(path))
    except (OSError, ValueError):
        return False
    return any(resolved.is_relative_to(os.path.realpath(root)) for root in roots)


def admissible_file(file: Path, roots: Sequence[Path] | None) -> tuple[Path, os.stat_result] | None:
    """The resolved path and stat of a model file that may be registered, or None: a dangling
    symlink, a file gone while scanning, no regular file, or outside the import roots."""
    try:
        resolved = Path(os.path.realpath(file))
        info = resolved.stat()
    except (OSError, ValueError):
        return None
    if not stat.S_ISREG(info.st_mode) or not inside_roots(resolved, roots):
        return None
    return resolved, info
