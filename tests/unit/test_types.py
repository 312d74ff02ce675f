"""The v2 tab of a legacy type: types_cache.json folders first, else the v1 aliases."""

from __future__ import annotations

import pytest

from backend.database.migration.types import (
    LEGACY_TYPE_KEY,
    V1_ALIASES,
    TypeMap,
    TypesCache,
)


@pytest.mark.parametrize(
    ("legacy", "v2"),
    [
        ("checkpoint", "checkpoints"),
        ("lora", "loras"),
        ("embedding", "embeddings"),
        ("upscale", "upscale_models"),
        ("vae", "vae"),
        ("ultralytics", "ultralytics"),
        ("other", "other"),
        ("controlnet", "controlnet"),
    ],
)
def test_without_a_types_cache_the_v1_aliases_map_and_other_types_are_kept(
    legacy: str, v2: str
) -> None:
    assert TypeMap().v2_type(legacy, "/anywhere/m.safetensors") == v2


def test_every_alias_is_a_comfyui_folder_name() -> None:
    assert V1_ALIASES == {
        "checkpoint": "checkpoints",
        "lora": "loras",
        "embedding": "embeddings",
        "upscale": "upscale_models",
    }


def test_the_folder_in_the_types_cache_decides_the_deepest_first() -> None:
    cache = TypesCache(
        paths_by_type={
            "checkpoints": ["/comfy/models/checkpoints"],
            "loras": ["/comfy/models/loras", "/extra/loras"],
            "ultralytics_bbox": ["/comfy/models/checkpoints/bbox"],
        }
    )
    types = TypeMap.from_cache(cache)
    assert types.v2_type("lora", "/comfy/models/checkpoints/a.ckpt") == "checkpoints"
    assert types.v2_type("checkpoint", "/extra/loras/sub/b.safetensors") == "loras"
    assert types.v2_type("ultralytics", "/comfy/models/checkpoints/bbox/y.pt") == "ultralytics_bbox"
    assert types.v2_type("lora", "/comfy/models/checkpoints-old/c.ckpt") == "loras"  # no prefix
    assert types.v2_type("other", "/elsewhere/d.bin") == "other"


def test_a_changed_type_keeps_the_legacy_one_in_extra() -> None:
    types = TypeMap()
    assert types.apply("lora", "/m", {"k": 1}) == ("loras", {"k": 1, LEGACY_TYPE_KEY: "lora"})
    assert types.apply("vae", "/m", {"k": 1}) == ("vae", {"k": 1})
    assert types.apply("loras", "/m", {}) == ("loras", {})  # already a v2 type: idempotent


def test_the_mapping_counts_legacy_type_to_v2_type() -> None:
    rows = [("lora", "/a"), ("lora", "/b"), ("vae", "/c")]
    mapping = [(m.legacy_type, m.v2_type, m.count) for m in TypeMap().mapping(rows)]
    assert mapping == [("lora", "loras", 2), ("vae", "vae", 1)]
