"""Image sources (issue 15, low): a FIFO or folder named ``x.png`` is ``image_not_a_file`` and
never opened; percent-encoded URLs are decoded once, and ``..`` / absolute paths stay refused
after decoding."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from backend.bootstrap import build_service
from backend.config import Settings
from backend.database.migration.errors import ImageError
from backend.database.migration.images import _open_regular, make_tiers, source_problem
from backend.database.migration.legacy.rows import resolve_image_url
from backend.database.migration.results import ItemRecord
from backend.database.migration.service import MigrationService
from tests.helpers.odd_legacy import GOOD_HASH, odd_row, write_odd_library


def png(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), (200, 10, 10)).save(path, format="PNG")
    return path


@pytest.fixture
def service(tmp_path: Path) -> Iterator[MigrationService]:
    svc = build_service(Settings(data_dir=tmp_path / "data"))
    yield svc
    svc.close()


def migrate_with_images(
    service: MigrationService, root: Path, urls: list[str], make: Any, *, hashed: bool = True
) -> ItemRecord:
    extra = json.dumps({"images": urls})
    row = odd_row(1, extra_json=extra, hash_hex=GOOD_HASH if hashed else "")
    lib = write_odd_library(root, [row])
    make(lib.images_dir)
    result = service.migrate_legacy(lib.db_path, lib.images_dir)
    (item,) = service.list_items(result.run_id).items
    return item


def image_warnings(item: ItemRecord) -> list[tuple[str, str | None]]:
    return [(w.code, w.file) for w in item.warnings if w.code.startswith("image_")]


def special_files(images: Path) -> None:
    os.mkfifo(images / "pipe.png")
    (images / "folder.png").mkdir()
    png(images / "good.png")


URLS = ["/media/pipe.png", "/media/folder.png", "/media/good.png"]


@pytest.mark.parametrize("hashed", [True, False], ids=["imported", "staged"])
def test_a_fifo_or_folder_named_png_is_not_a_file(
    service: MigrationService, tmp_path: Path, hashed: bool
) -> None:
    item = migrate_with_images(service, tmp_path / "legacy", URLS, special_files, hashed=hashed)

    assert item.state == ("promoted" if hashed else "staged")
    assert image_warnings(item) == [
        ("image_not_a_file", "/media/pipe.png"),
        ("image_not_a_file", "/media/folder.png"),
    ]
    messages = " ".join(w.message for w in item.warnings if w.code.startswith("image_"))
    assert "FIFO" in messages and "folder" in messages
    assert "does not exist" not in messages


def test_source_problem_tells_missing_from_not_a_file(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.png")
    (tmp_path / "dir.png").mkdir()

    kinds = {
        name: getattr(source_problem(tmp_path / name), "code", None)
        for name in ("pipe.png", "dir.png", "gone.png", "good.png")
        if name != "good.png" or png(tmp_path / name)
    }

    assert kinds == {
        "pipe.png": "image_not_a_file",
        "dir.png": "image_not_a_file",
        "gone.png": "image_missing",
        "good.png": None,
    }


def test_make_tiers_never_opens_a_fifo(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.png")

    with pytest.raises(ImageError) as caught:
        make_tiers(tmp_path / "pipe.png", tmp_path / "out", "ab" * 32, 0)

    assert caught.value.code == "image_not_a_file"
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []


def test_a_fifo_swapped_in_after_the_check_does_not_block(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.png")  # no writer: a plain blocking open would wait forever

    with pytest.raises(ImageError) as caught:
        _open_regular(tmp_path / "pipe.png")

    assert caught.value.code == "image_not_a_file"


# --- percent-encoded URLs ---------------------------------------------------------------------


@pytest.fixture
def images(tmp_path: Path) -> Path:
    folder = tmp_path / "images"
    png(folder / "a b.png")
    png(folder / "ünï.png")
    png(folder / "c%20d.png")  # a file literally named with a percent sign
    png(folder / "sub" / "x.png")
    png(tmp_path / "secret.png")
    return folder


@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("/media/a%20b.png", "a b.png"),
        ("/media/a b.png", "a b.png"),
        ("/media/%C3%BCn%C3%AF.png", "ünï.png"),
        ("/media/sub%2Fx.png", "sub/x.png"),
        ("/media/c%20d.png", "c%20d.png"),  # "c d.png" does not exist; the literal name does
    ],
)
def test_percent_encoded_names_are_decoded(images: Path, url: str, name: str) -> None:
    ref = resolve_image_url(url, os.path.realpath(images))

    assert ref.warning is None
    assert ref.path == Path(os.path.realpath(images / name))


@pytest.mark.parametrize(
    "url",
    [
        "/media/%2e%2e/secret.png",
        "/media/%2E%2E%2Fsecret.png",
        "/media/sub%2F..%2F..%2Fsecret.png",
        "/media/%2Fetc%2Fpasswd",
        "/media/%2F%2Fetc%2Fpasswd",
        "/media/a%00.png",
        "/media/..%5Csecret.png",
        "/media/%252e%252e/secret.png",  # decoded once: a folder literally named %2e%2e
    ],
)
def test_decoding_never_lets_a_url_leave_the_folder(images: Path, url: str) -> None:
    ref = resolve_image_url(url, os.path.realpath(images))

    if ref.path is not None:
        assert ref.path.is_relative_to(os.path.realpath(images))
        assert ref.path.name != "secret.png" or ref.path.parent != images.parent
    else:
        assert ref.warning is not None and ref.warning.code == "image_outside_legacy_dir"
    assert ref.path != Path(os.path.realpath(images.parent / "secret.png"))


def test_a_percent_encoded_image_migrates(service: MigrationService, tmp_path: Path) -> None:
    item = migrate_with_images(
        service, tmp_path / "legacy", ["/media/a%20b.png"], lambda d: png(d / "a b.png")
    )

    assert item.state == "promoted"
    assert image_warnings(item) == []
    assert item.artifacts.get("images_count") == 1
