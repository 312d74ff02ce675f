"""The 3-tier WebP pipeline writes atomically, deterministically, and durably when asked."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from backend.database.migration.images import make_tiers
from tests.helpers.image_files import SHA, final_names, listing, photo, save


def test_a_failing_encode_leaves_no_file_and_keeps_an_earlier_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = save(photo((200, 150)), tmp_path / "a.png")
    fresh, kept = tmp_path / "fresh", tmp_path / "kept"
    make_tiers(src, kept, SHA, 0)
    before = {name: (kept / name).read_bytes() for name in listing(kept)}
    real_save = Image.Image.save
    calls: list[int] = []

    def flaky_save(self: Image.Image, fp: Any, *args: Any, **kwargs: Any) -> None:
        calls.append(1)
        if len(calls) == 2:  # the medium tier: write half a file, then die
            fp.write(b"RIFF\x00\x00")
            raise KeyboardInterrupt
        real_save(self, fp, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "save", flaky_save)
    with pytest.raises(KeyboardInterrupt):
        make_tiers(src, fresh, SHA, 0)
    assert listing(fresh) == []
    calls.clear()
    with pytest.raises(KeyboardInterrupt):
        make_tiers(src, kept, SHA, 0)
    assert {name: (kept / name).read_bytes() for name in listing(kept)} == before


def test_rerun_is_byte_identical_and_leaves_no_temp_files(tmp_path: Path) -> None:
    src = save(photo((700, 500), "RGBA"), tmp_path / "a.png")
    one, two = tmp_path / "one", tmp_path / "two"
    make_tiers(src, one, SHA, 5)
    first = {name: (one / name).read_bytes() for name in listing(one)}
    make_tiers(src, two, SHA, 5)
    make_tiers(src, one, SHA, 5)  # overwrite in place
    assert listing(one) == listing(two) == final_names(5)
    assert {name: (two / name).read_bytes() for name in listing(two)} == first
    assert {name: (one / name).read_bytes() for name in listing(one)} == first


def test_seqs_do_not_collide(tmp_path: Path) -> None:
    src = save(photo((90, 60)), tmp_path / "a.png")
    out = tmp_path / "out"
    make_tiers(src, out, SHA, 0)
    make_tiers(src, out, SHA, 1)
    assert listing(out) == sorted(final_names(0) + final_names(1))


@pytest.mark.parametrize(("durable", "expected_syncs"), [(True, 4), (False, 0)])
def test_tiers_are_flushed_to_disk_before_rename_when_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, durable: bool, expected_syncs: int
) -> None:
    src = save(photo((60, 40)), tmp_path / "a.png")
    out = tmp_path / "out"
    synced: list[bool] = []  # True: the fd was a temp file not yet renamed; False: a directory
    real_fsync = os.fsync

    def spy(fd: int) -> None:
        renamed = set(listing(out)) & set(final_names())
        synced.append(not stat.S_ISDIR(os.fstat(fd).st_mode) and not renamed)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", spy)
    make_tiers(src, out, SHA, 0, fsync=durable)
    assert len(synced) == expected_syncs
    if durable:
        assert synced == [True, True, True, False]
