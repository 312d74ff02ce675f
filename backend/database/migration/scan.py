"""Walk model folders and register new files as pending models (never hashes)."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
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
