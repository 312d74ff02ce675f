"""Time ``make_tiers`` against the plainest pipeline (floor) and the v2 reference.

    .venv/bin/python benchmarks/image_tiers.py [--repeat 3] [--method 4]

Generates photo-like JPEGs (quality 90; blurred noise + gradients + grain, so they compress like
photos): three 512×768 "photos", then 1024×1536, 2048×3072 and 4000×6000. Per size, best of
``--repeat`` wall time (per image; the small size is the mean over its three images) of:
  ours       make_tiers(src, out, sha, seq): draft() for big JPEGs, temp file + os.replace
  floor      the plainest correct way: Image.open + load (FULL decode, no draft), convert,
             resize to the capped base, medium/low resized from the base, three WebP saves
             straight to their final names (same quality, same method)
  floor+dr   the floor with JPEG draft() before load: what the floor is once it may skip pixels
  v2 ref     the v2 code: convert, each tier resized from the FULL original (same tier sizes,
             no resize to a base first), pixels copied through list(getdata()) into a new image
             with putdata, WebP method 6
Goals: ours ≤ 1.1× floor; v2 ref ≥ 2.3× slower than ours for 1024×1536 and larger.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

from PIL import Image, ImageFilter

from backend.database.migration.images import TIERS, base_size, make_tiers, tier_sizes

SHA = "f" * 64
SIZES: list[tuple[str, tuple[int, int], int]] = [
    ("512x768", (512, 768), 3),
    ("1024x1536", (1024, 1536), 1),
    ("2048x3072", (2048, 3072), 1),
    ("4000x6000", (4000, 6000), 1),
]


def photo(size: tuple[int, int], seed: int) -> Image.Image:
    """Photo-like content: smooth shapes (blurred coarse noise), gradients and fine grain."""
    w, h = size
    small = (max(8, w // 32), max(8, h // 32))
    channels = []
    for i in range(3):
        coarse = Image.effect_noise(small, 60 + 10 * ((seed + i) % 3)).resize(
            size, Image.Resampling.BICUBIC
        )
        grad = Image.linear_gradient("L").rotate(90 * ((seed + i) % 4)).resize(size)
        channels.append(Image.blend(coarse, grad, 0.35 + 0.1 * i))
    img = Image.merge("RGB", channels).filter(ImageFilter.GaussianBlur(1.2))
    grain = Image.merge("RGB", [Image.effect_noise(size, 40 + 5 * i) for i in range(3)])
    return Image.blend(img, grain, 0.2)


def floor(src: Path, out: Path, method: int, *, draft: bool = False) -> None:
    with Image.open(src) as im:
        sizes = tier_sizes(*im.size)
        if draft:
            im.draft(None, base_size(*im.size))
        im.load()
        rgb = im.convert("RGB")
    base = rgb.resize(sizes["high"], Image.Resampling.LANCZOS)
    for name, _f, quality in TIERS:
        tier = base if name == "high" else base.resize(sizes[name], Image.Resampling.LANCZOS)
        tier.save(out / f"{SHA}_0_{name}.webp", "WEBP", quality=quality, method=method)


def v2_reference(src: Path, out: Path) -> None:
    with Image.open(src) as im:
        rgb = im.convert("RGB")
    sizes = tier_sizes(*rgb.size)
    for name, _f, quality in TIERS:
        resized = rgb.resize(sizes[name], Image.Resampling.LANCZOS)
        copy = Image.new(resized.mode, resized.size)
        with warnings.catch_warnings():  # getdata is deprecated in Pillow 13; v2 used it
            warnings.simplefilter("ignore", DeprecationWarning)
            copy.putdata(list(resized.getdata()))
        copy.save(out / f"{SHA}_0_{name}.webp", "WEBP", quality=quality, method=6)


def contenders(out: Path, method: int) -> dict[str, Callable[[Path], None]]:
    def ours(src: Path) -> None:
        make_tiers(src, out, SHA, 0, method=method)

    return {
        "ours": ours,
        "floor": lambda src: floor(src, out, method),
        "floor+dr": lambda src: floor(src, out, method, draft=True),
        "v2 ref": lambda src: v2_reference(src, out),
    }


def best_per_image(repeat: int, srcs: list[Path], run: Callable[[Path], None]) -> float:
    """Best over ``repeat`` rounds of the mean time per image."""
    rounds = []
    for _ in range(repeat):
        per_image = []
        for src in srcs:
            t0 = time.perf_counter()
            run(src)
            per_image.append(time.perf_counter() - t0)
        rounds.append(statistics.fmean(per_image))
    return min(rounds)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--method", type=int, default=4)
    parser.add_argument("--skip-largest", action="store_true", help="leave out 4000x6000")
    args = parser.parse_args(argv)
    load = os.getloadavg()
    tmp = Path(tempfile.mkdtemp(prefix="tierbench-"))
    lines = []
    try:
        for label, size, count in SIZES:
            if args.skip_largest and label == "4000x6000":
                continue
            srcs = []
            for i in range(count):
                src = tmp / f"{label}_{i}.jpg"
                photo(size, i).save(src, "JPEG", quality=90)
                srcs.append(src)
            out = tmp / "out"
            out.mkdir(exist_ok=True)
            runs = contenders(out, args.method)
            t = {name: best_per_image(args.repeat, srcs, fn) for name, fn in runs.items()}
            kib = statistics.fmean(s.stat().st_size for s in srcs) / 1024
            line = (
                f"{label:>10} ({kib:5.0f} KiB jpeg): ours {t['ours'] * 1e3:7.1f} ms  "
                f"floor {t['floor'] * 1e3:7.1f} ms  floor+dr {t['floor+dr'] * 1e3:7.1f} ms  "
                f"v2 {t['v2 ref'] * 1e3:7.1f} ms | ours/floor {t['ours'] / t['floor']:.2f}x  "
                f"ours/floor+dr {t['ours'] / t['floor+dr']:.2f}x  "
                f"v2/ours {t['v2 ref'] / t['ours']:.2f}x"
            )
            print(line, flush=True)
            lines.append(line)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(
        f"best of {args.repeat}, WebP method {args.method} (v2: 6), {os.cpu_count()} CPUs, "
        f"load average before {load[0]:.2f}, after {os.getloadavg()[0]:.2f}"
    )
    print("goals: ours/floor <= 1.10; v2/ours >= 2.30 for 1024x1536 and larger")
    return 0


if __name__ == "__main__":
    sys.exit(main())
