#!/usr/bin/env python3
"""Writes the vision test images: Tests/Fixtures/images/.

    pip install pillow==12.3.0          # the encoder; its bundled libjpeg-turbo/zlib fix the bytes
    python3 Tests/Reference/make_test_images.py

Source: real photographs shipped inside the scikit-image wheel (scikit-image 0.26.0,
`skimage/data/`: chelsea, astronaut, coffee, motorcycle_left, hubble_deep_field, rocket,
camera -- the ones bundled in the wheel, not the pooch-fetched ones). The wheel is fetched
with `pip download --no-deps` (PyPI only) and read as a zip; scikit-image is not installed
or imported. The photos are public domain / CC0 (see skimage/data/README.txt and the
scikit-image docs, "General-purpose images").

The sizes exercise llama.cpp's idefics3 slicing (longest edge scaled to 2048, then 512 tiles):

  file                          size       format                      grid (+ overview)
  chelsea-300x200.png           300x200    PNG RGB                     4x3
  astronaut-512x512.jpg         512x512    JPEG q90, 4:4:4 chroma      4x4
  coffee-640x480.jpg            640x480    JPEG q90, 4:2:0             4x3
  motorcycle-1024x768.jpg       1024x768   JPEG q90, 4:2:0 (benchmark) 4x3
  hubble-2000x600.jpg           2000x600   JPEG q90, 4:2:0             4x2
  rocket-400x1500.jpg           400x1500   JPEG q90, 4:2:0             2x4
  camera-gray-640x480.png       640x480    PNG grayscale (L, 8 bit)    4x3
  coffee-rgba-300x200.png       300x200    PNG RGBA, radial alpha      4x3

The RGBA image keeps the photo's colour under every alpha value (fully transparent corners
included): llama.cpp's loader (stb_image, 3 channels requested) drops alpha without
compositing, and the Swift decoder must do the same. The grayscale PNG is expanded to RGB by
replication. astronaut uses 4:4:4 chroma so one JPEG differs between decoders only by the
IDCT, not by chroma upsampling.

Deterministic: fixed crops, Pillow's LANCZOS resampling (integer arithmetic), fixed JPEG
quality/subsampling, no optimisation passes, PNG without tIME/text chunks; running it twice
gives identical bytes (with the same Pillow version).
"""
from __future__ import annotations

import io
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "Tests" / "Fixtures" / "images"
SKIMAGE = "scikit-image==0.26.0"
QUALITY = 90


def load_wheel_data() -> dict[str, bytes]:
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary", ":all:",
                        "-d", tmp, SKIMAGE], check=True)
        wheel = next(Path(tmp).glob("scikit_image-*.whl"))
        with zipfile.ZipFile(wheel) as z:
            return {Path(n).name: z.read(n) for n in z.namelist()
                    if n.startswith("skimage/data/") and n.endswith((".png", ".jpg"))}


def crop_aspect(im: Image.Image, w: int, h: int, box: tuple[int, int, int, int] | None = None) -> Image.Image:
    """Centre crop (or the given box) to aspect w:h, then LANCZOS resize to w x h."""
    if box is None:
        sw, sh = im.size
        if sw * h > sh * w:  # too wide
            cw = sh * w // h
            box = ((sw - cw) // 2, 0, (sw - cw) // 2 + cw, sh)
        else:
            ch = sw * h // w
            box = (0, (sh - ch) // 2, sw, (sh - ch) // 2 + ch)
    im = im.crop(box)
    return im if im.size == (w, h) else im.resize((w, h), Image.Resampling.LANCZOS)


def save_jpeg(im: Image.Image, path: Path, subsampling: int) -> None:
    im.convert("RGB").save(path, "JPEG", quality=QUALITY, subsampling=subsampling, optimize=False,
                           progressive=False)


def save_png(im: Image.Image, path: Path) -> None:
    im.save(path, "PNG", optimize=False, compress_level=9)


def main() -> None:
    data = load_wheel_data()

    def photo(name: str) -> Image.Image:
        im = Image.open(io.BytesIO(data[name]))
        im.load()
        return im

    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.iterdir():
        old.unlink()

    save_png(crop_aspect(photo("chelsea.png"), 300, 200), OUT / "chelsea-300x200.png")
    save_jpeg(photo("astronaut.png"), OUT / "astronaut-512x512.jpg", subsampling=0)
    save_jpeg(crop_aspect(photo("coffee.png"), 640, 480), OUT / "coffee-640x480.jpg", subsampling=2)
    save_jpeg(crop_aspect(photo("motorcycle_left.png"), 1024, 768), OUT / "motorcycle-1024x768.jpg", subsampling=2)
    save_jpeg(crop_aspect(photo("hubble_deep_field.jpg"), 2000, 600, box=(0, 250, 1000, 550)),
              OUT / "hubble-2000x600.jpg", subsampling=2)
    # the rocket stands in the middle of the landscape frame: a tall strip around it
    save_jpeg(crop_aspect(photo("rocket.jpg"), 400, 1500, box=(264, 0, 378, 427)),
              OUT / "rocket-400x1500.jpg", subsampling=2)
    save_png(crop_aspect(photo("camera.png"), 640, 480).convert("L"), OUT / "camera-gray-640x480.png")

    rgb = crop_aspect(photo("coffee.png"), 300, 200)
    y, x = np.mgrid[0:200, 0:300].astype(np.float64)
    r = np.hypot((x - 149.5) / 150.0, (y - 99.5) / 100.0)  # 0 at the centre, ~1.41 in the corners
    alpha = np.clip(np.round(255.0 * (1.25 - r) / 0.5), 0, 255).astype(np.uint8)
    rgba = np.dstack([np.asarray(rgb), alpha])
    save_png(Image.fromarray(rgba, "RGBA"), OUT / "coffee-rgba-300x200.png")

    total = 0
    for p in sorted(OUT.iterdir()):
        total += p.stat().st_size
        with Image.open(p) as im:
            print(f"{p.name}: {im.size[0]}x{im.size[1]} {im.mode}, {p.stat().st_size} bytes")
    print(f"images: {total} bytes")


if __name__ == "__main__":
    main()
