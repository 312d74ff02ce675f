"""Sample preview images of every kind a v1 library holds: photos in the usual formats, and
the ugly ones (CMYK, 16-bit grey, animated, alpha, EXIF-rotated, a decompression bomb)."""

from __future__ import annotations

import io
import random
import struct
import zlib

from PIL import Image


def _chunk(kind: bytes, data: bytes) -> bytes:
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))


def bomb_png(width: int = 30_000, height: int = 30_000) -> bytes:
    """A tiny, well-formed PNG whose header declares ``width`` x ``height`` grey pixels."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * (width + 1), 9)  # one filtered scanline is plenty
    return (
        b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")
    )


def picture(rng: random.Random, size: tuple[int, int]) -> Image.Image:
    """A smooth, seed-dependent RGB picture (cheap to make, compresses like a photo)."""
    small = Image.frombytes("RGB", (4, 6), rng.randbytes(4 * 6 * 3))
    return small.resize(size, Image.Resampling.BILINEAR)


def encode(rng: random.Random, fmt: str, size: tuple[int, int]) -> tuple[bytes, str]:
    """A picture in ``fmt`` (a sample case's image format) and its file extension."""
    pic = picture(rng, size)
    buf = io.BytesIO()
    if fmt == "cmyk":
        pic.convert("CMYK").save(buf, "JPEG", quality=85)
    elif fmt == "gray16":
        grey = pic.convert("L").tobytes()
        Image.frombytes("I;16", size, b"".join(struct.pack("<H", v * 257) for v in grey)).save(
            buf, "PNG"
        )
    elif fmt == "animated":
        frames = [pic.convert("P"), picture(rng, size).convert("P")]
        frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=100)
    elif fmt == "alpha":
        pic.putalpha(Image.linear_gradient("L").resize(size))
        pic.save(buf, "PNG")
    elif fmt == "palette_alpha":
        pic.convert("P", palette=Image.Palette.ADAPTIVE, colors=16).save(buf, "PNG", transparency=0)
    elif fmt == "exif_rotated":
        exif = Image.Exif()
        exif[0x0112] = 6
        pic.save(buf, "JPEG", quality=85, exif=exif.tobytes())
    elif fmt == "png":
        pic.save(buf, "PNG", compress_level=1)  # 4x faster than the default; still valid
    else:
        pic.save(buf, fmt.upper(), quality=85)
    ext = {"jpeg": "jpg", "cmyk": "jpg", "exif_rotated": "jpg", "animated": "gif"}
    return buf.getvalue(), ext.get(fmt, "webp" if fmt == "webp" else "png")
