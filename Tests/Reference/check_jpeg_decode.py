#!/usr/bin/env python3
"""Checks the engine's JPEG decoder (Sources/CImageShim/smol_image.c) against llama.cpp's
stb_image byte for byte, over the fixture photos and a set of generated variants
(progressive, 4:4:4 / 4:2:2 / 4:2:0 / 4:4:0 / 4:1:1 and mixed sampling, grayscale, odd sizes,
restart intervals, CMYK, YCCK, RGB, extreme qualities), and optionally writes the small
`Tests/Fixtures/jpeg-variants/` fixture the Swift tests check in CI.

Reference tooling, not run in CI. Needs gcc, libjpeg and libpng headers, Pillow, and
llama.cpp's vendored stb_image.h (the copy llama.cpp's mtmd-helper.cpp compiles; on x86-64
stb uses its SSE2 kernels, as it does in llama.cpp):

    python3 Tests/Reference/check_jpeg_decode.py --stb /path/to/llama.cpp/vendor/stb
    python3 Tests/Reference/check_jpeg_decode.py --stb ... --write-fixtures
    python3 Tests/Reference/check_jpeg_decode.py --stb ... extra1.jpg extra2.jpg

Two tools are compiled into a scratch directory (not the repository): an stb_image oracle
(`stbi_load_from_memory(..., 3)`, gcc -O2) and a dump tool around the shim's
smol_decode_jpeg. Tests/Reference/jpeg_variant_encoder.c (system libjpeg) makes the variants
Pillow cannot.
"""

import argparse
import hashlib
import io
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile

from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
IMAGES = os.path.join(ROOT, "Tests", "Fixtures", "images")
FIXTURE_DIR = os.path.join(ROOT, "Tests", "Fixtures", "jpeg-variants")

ORACLE_C = r"""
#define STB_IMAGE_IMPLEMENTATION
#include "stb_image.h"
#include <stdio.h>
#include <stdlib.h>
int main(int argc, char **argv) {
    FILE *f = fopen(argv[1], "rb");
    if (!f) return 2;
    fseek(f, 0, SEEK_END); long n = ftell(f); fseek(f, 0, SEEK_SET);
    unsigned char *d = malloc(n > 0 ? n : 1);
    if (fread(d, 1, n, f) != (size_t)n) return 2;
    fclose(f);
    int w, h, c;
    unsigned char *p = stbi_load_from_memory(d, (int)n, &w, &h, &c, 3);  /* as mtmd-helper.cpp */
    if (!p) { printf("ERROR %s\n", stbi_failure_reason()); return 1; }
    f = fopen(argv[2], "wb"); fwrite(p, 1, (size_t)w * h * 3, f); fclose(f);
    printf("%d %d\n", w, h);
    return 0;
}
"""

SHIM_C = r"""
#include "smol_image.h"
#include <stdio.h>
#include <stdlib.h>
int main(int argc, char **argv) {
    FILE *f = fopen(argv[1], "rb");
    if (!f) return 2;
    fseek(f, 0, SEEK_END); long n = ftell(f); fseek(f, 0, SEEK_SET);
    unsigned char *d = malloc(n > 0 ? n : 1);
    if (fread(d, 1, n, f) != (size_t)n) return 2;
    fclose(f);
    uint8_t *rgb; int w, h; char err[256];
    int st = smol_decode_jpeg(d, (size_t)n, (size_t)1 << 28, &rgb, &w, &h, err, sizeof err);
    if (st) { printf("ERROR %d %s\n", st, err); return 1; }
    f = fopen(argv[2], "wb"); fwrite(rgb, 1, (size_t)w * h * 3, f); fclose(f);
    printf("%d %d\n", w, h);
    return 0;
}
"""


def build_tools(stb_dir, work):
    def cc(args):
        subprocess.run(["gcc", "-O2", *args], check=True)

    src = os.path.join(work, "oracle.c")
    open(src, "w").write(ORACLE_C)
    cc(["-I", stb_dir, src, "-o", os.path.join(work, "stb_oracle"), "-lm"])
    src = os.path.join(work, "shim_dump.c")
    open(src, "w").write(SHIM_C)
    shim = os.path.join(ROOT, "Sources", "CImageShim")
    cc(["-I", os.path.join(shim, "include"), src, os.path.join(shim, "smol_image.c"),
        "-o", os.path.join(work, "shim_dump"), "-ljpeg", "-lpng"])
    cc([os.path.join(ROOT, "Tests", "Reference", "jpeg_variant_encoder.c"),
        "-o", os.path.join(work, "encoder"), "-ljpeg"])


def run_decoder(tool, path, work):
    out = os.path.join(work, "out.rgb")
    if os.path.exists(out):
        os.remove(out)
    r = subprocess.run([tool, path, out], capture_output=True, text=True)
    line = r.stdout.strip()
    if r.returncode != 0:
        return None, line or r.stderr.strip()
    w, h = map(int, line.split())
    return open(out, "rb").read(), (w, h)


# MARK: source pictures

def photo(name, size):
    im = Image.open(os.path.join(IMAGES, name)).convert("RGB")
    return im.resize(size, Image.Resampling.LANCZOS)


def harsh(size, seed=1):
    """Saturated colours, hard edges and noise: drives IDCT and colour clamping."""
    rnd = random.Random(seed)
    w, h = size
    im = Image.new("RGB", size)
    px = im.load()
    palette = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (0, 255, 255),
               (255, 0, 255), (0, 0, 0), (255, 255, 255)]
    for y in range(h):
        for x in range(w):
            if (x // 5 + y // 3) % 4 == 0:
                px[x, y] = tuple(rnd.randrange(256) for _ in range(3))
            else:
                px[x, y] = palette[((x * 7) // 9 + (y * 5) // 11) % len(palette)]
    return im


def jpeg_pillow(im, **kw):
    buf = io.BytesIO()
    im.save(buf, "JPEG", **kw)
    return buf.getvalue()


def jpeg_encoder(tool, work, im, *opts):
    """Our libjpeg encoder; CMYK input is written Adobe-inverted as Photoshop does."""
    comps = {"L": 1, "RGB": 3, "CMYK": 4}[im.mode]
    raw = os.path.join(work, "in.raw")
    data = im.tobytes()
    if comps == 4:
        data = bytes(255 - b for b in data)
    open(raw, "wb").write(data)
    out = os.path.join(work, "enc.jpg")
    subprocess.run([tool, raw, str(im.width), str(im.height), str(comps), out, *opts], check=True)
    return open(out, "rb").read()


def variants(work):
    """(name, jpeg bytes, commit-as-fixture) for every generated case."""
    enc = os.path.join(work, "encoder")
    coffee = lambda size: photo("coffee-640x480.jpg", size)
    astro = lambda size: photo("astronaut-512x512.jpg", size)
    v = []
    add = lambda name, data, keep=False: v.append((name, data, keep))

    # Pillow: the common encoder settings.
    add("baseline-420-q90-333x217", jpeg_pillow(coffee((333, 217)), quality=90, subsampling=2))
    add("baseline-422-q75-333x217", jpeg_pillow(coffee((333, 217)), quality=75, subsampling=1))
    add("baseline-444-q95-333x217", jpeg_pillow(coffee((333, 217)), quality=95, subsampling=0))
    add("progressive-420-q85-333x217", jpeg_pillow(coffee((333, 217)), quality=85, progressive=True))
    add("progressive-444-q85-201x157", jpeg_pillow(astro((201, 157)), quality=85, subsampling=0, progressive=True))
    add("gray-q90-333x217", jpeg_pillow(coffee((333, 217)).convert("L"), quality=90))
    add("gray-progressive-97x61", jpeg_pillow(astro((97, 61)).convert("L"), quality=80, progressive=True))
    add("gray-q85-31x23", jpeg_pillow(astro((31, 23)).convert("L"), quality=85), True)
    add("restart-blocks-420-333x217", jpeg_pillow(coffee((333, 217)), quality=85, restart_marker_blocks=3))
    add("restart-rows-422-129x95", jpeg_pillow(coffee((129, 95)), quality=85, subsampling=1, restart_marker_rows=1))
    add("q100-444-harsh-64x48", jpeg_pillow(harsh((64, 48)), quality=100, subsampling=0))
    add("q100-420-harsh-65x49", jpeg_pillow(harsh((65, 49), 2), quality=100, subsampling=2))
    add("q100-420-harsh-33x25", jpeg_pillow(harsh((33, 25), 2), quality=100, subsampling=2), True)
    add("restart-420-q80-48x36", jpeg_pillow(coffee((48, 36)), quality=80, restart_marker_blocks=1), True)
    add("progressive-422-q80-47x35", jpeg_pillow(astro((47, 35)), quality=80, subsampling=1, progressive=True), True)
    add("q5-420-333x217", jpeg_pillow(coffee((333, 217)), quality=5))
    add("q1-420-harsh-64x48", jpeg_pillow(harsh((64, 48), 3), quality=1))
    add("cmyk-pillow-q90-120x80", jpeg_pillow(coffee((120, 80)).convert("CMYK"), quality=90))
    for size in [(1, 1), (17, 9), (9, 17), (2, 2), (15, 1), (1, 15), (33, 33)]:
        name = f"{size[0]}x{size[1]}"
        add(f"odd-420-{name}", jpeg_pillow(harsh(size, 4), quality=90, subsampling=2), size in [(1, 1), (17, 9)])
        add(f"odd-422-{name}", jpeg_pillow(harsh(size, 5), quality=90, subsampling=1), size == (1, 15))
        add(f"odd-progressive-{name}", jpeg_pillow(harsh(size, 6), quality=90, progressive=True), size == (9, 17))

    # The system libjpeg through our encoder: the sampling factors and colour spaces Pillow
    # does not write.
    add("s440-1x2-q90-131x77", jpeg_encoder(enc, work, coffee((131, 77)), "sampling=1x2,1x1,1x1"))
    add("s440-1x2-q90-45x27", jpeg_encoder(enc, work, coffee((45, 27)), "sampling=1x2,1x1,1x1"), True)
    add("s411-4x1-q90-131x77", jpeg_encoder(enc, work, coffee((131, 77)), "sampling=4x1,1x1,1x1"))
    add("s411-4x1-q90-45x27", jpeg_encoder(enc, work, coffee((45, 27)), "sampling=4x1,1x1,1x1"), True)
    add("s2x2-2x1-1x2-q90-67x45", jpeg_encoder(enc, work, coffee((67, 45)), "sampling=2x2,2x1,1x2"), True)
    add("s4x2-q90-75x41", jpeg_encoder(enc, work, harsh((75, 41), 7), "sampling=4x2,1x1,1x1"))
    add("s1x4-q90-41x75", jpeg_encoder(enc, work, harsh((41, 75), 8), "sampling=1x4,1x1,1x1"))
    add("s2x1-all-q90-67x45", jpeg_encoder(enc, work, coffee((67, 45)), "sampling=2x1,2x1,2x1"))
    add("s440-progressive-99x51", jpeg_encoder(enc, work, coffee((99, 51)), "sampling=1x2,1x1,1x1", "progressive"))
    add("separate-scans-420-q90-77x51", jpeg_encoder(enc, work, coffee((77, 51)), "separate-scans"), True)
    add("separate-scans-cmyk-restart-45x27", jpeg_encoder(enc, work, coffee((45, 27)).convert("CMYK"),
                                                          "separate-scans", "restart=3"))
    add("s411-restart-131x77", jpeg_encoder(enc, work, coffee((131, 77)), "sampling=4x1,1x1,1x1", "restart=2"))
    add("rgb-ids-q90-70x50", jpeg_encoder(enc, work, coffee((70, 50)), "space=rgb"))
    add("rgb-adobe0-numeric-ids-30x20", jpeg_encoder(enc, work, coffee((30, 20)), "space=rgb", "ids=1,2,3"), True)
    add("rgb-adobe0-numeric-ids-70x50", jpeg_encoder(enc, work, coffee((70, 50)), "space=rgb", "ids=1,2,3"))
    add("rgb-ids-jfif-70x50", jpeg_encoder(enc, work, coffee((70, 50)), "space=rgb", "jfif=1", "adobe=0"))
    add("ycc-adobe1-70x50", jpeg_encoder(enc, work, coffee((70, 50)), "adobe=1", "jfif=0"))
    add("ycc-no-markers-70x50", jpeg_encoder(enc, work, coffee((70, 50)), "adobe=0", "jfif=0"))
    add("cmyk-q90-70x50", jpeg_encoder(enc, work, coffee((70, 50)).convert("CMYK")))
    add("cmyk-q90-30x20", jpeg_encoder(enc, work, coffee((30, 20)).convert("CMYK")), True)
    add("ycck-q90-70x50", jpeg_encoder(enc, work, coffee((70, 50)).convert("CMYK"), "space=ycck"))
    add("ycck-420-q90-71x51", jpeg_encoder(enc, work, coffee((71, 51)).convert("CMYK"), "space=ycck",
                                          "sampling=2x2,1x1,1x1,2x2"), True)
    add("cmyk-no-adobe-70x50", jpeg_encoder(enc, work, coffee((70, 50)).convert("CMYK"), "adobe=0"))
    # Random coefficients with large 16-bit quantisation tables: dequantised values wrap 16
    # bits and stb's SSE2 IDCT wraps its 16-bit input sums and saturates its column pass,
    # where its scalar IDCT would not.
    add("coefs-extreme-420-41x27", jpeg_encoder(enc, work, coffee((41, 27)), "coefs=1"), True)
    add("coefs-extreme-progressive-444-24x16",
        jpeg_encoder(enc, work, coffee((24, 16)), "coefs=2", "progressive", "sampling=1x1,1x1,1x1"), True)
    add("coefs-moderate-422-64x32", jpeg_encoder(enc, work, coffee((64, 32)), "coefs=3:300", "sampling=2x1,1x1,1x1"))
    add("coefs-gray-progressive-40x40", jpeg_encoder(enc, work, coffee((40, 40)).convert("L"), "coefs=4:2000",
                                                     "progressive"))
    add("gray-sampled-2x2-45x33", jpeg_encoder(enc, work, astro((45, 33)).convert("L"), "sampling=2x2"))
    return v


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stb", default="/tmp/llsrc/llama.cpp/vendor/stb",
                    help="directory holding llama.cpp's vendored stb_image.h")
    ap.add_argument("--write-fixtures", action="store_true",
                    help=f"write the cases marked for CI to {os.path.relpath(FIXTURE_DIR, ROOT)}")
    ap.add_argument("files", nargs="*", help="more JPEG files to compare")
    args = ap.parse_args()

    work = tempfile.mkdtemp(prefix="smol-jpeg-check-")
    try:
        build_tools(args.stb, work)
        cases = [(os.path.basename(p), open(p, "rb").read(), False)
                 for p in sorted(os.path.join(IMAGES, f) for f in os.listdir(IMAGES)) if p.endswith(".jpg")]
        cases += [(os.path.basename(p), open(p, "rb").read(), False) for p in args.files]
        cases += variants(work)

        failures, kept = 0, []
        for name, data, keep in cases:
            path = os.path.join(work, "case.jpg")
            open(path, "wb").write(data)
            ref, ref_info = run_decoder(os.path.join(work, "stb_oracle"), path, work)
            got, got_info = run_decoder(os.path.join(work, "shim_dump"), path, work)
            if ref is None:
                verdict = f"stb refuses ({ref_info}); shim: {'refuses' if got is None else 'decodes'}"
            elif got is None:
                verdict, failures = f"SHIM REFUSES: {got_info}", failures + 1
            elif got_info != ref_info or got != ref:
                diff = [abs(a - b) for a, b in zip(got, ref) if a != b] if got_info == ref_info else []
                verdict = (f"DIFFERS: {sum(1 for _ in diff)} bytes, max {max(diff)} levels" if diff
                           else f"DIFFERS: size {got_info} vs {ref_info}")
                failures += 1
            else:
                verdict = "exact"
                if keep:
                    kept.append((name, data, ref_info, hashlib.sha256(ref).hexdigest()))
            print(f"{name:34s} {len(data):7d} B  {verdict}")
        print(f"{len(cases)} cases, {failures} mismatches")

        if args.write_fixtures:
            if os.path.isdir(FIXTURE_DIR):
                shutil.rmtree(FIXTURE_DIR)
            os.makedirs(FIXTURE_DIR)
            entries = []
            for name, data, (w, h), digest in kept:
                open(os.path.join(FIXTURE_DIR, name + ".jpg"), "wb").write(data)
                entries.append({"file": name + ".jpg", "width": w, "height": h, "rgb_sha256": digest})
            manifest = {
                "kind": "jpeg-variants",
                "decoder": "stb_image.h as vendored by llama.cpp (stbi_load_from_memory, 3 channels, "
                           "gcc -O2 on x86-64: SSE2 kernels), via Tests/Reference/check_jpeg_decode.py",
                "checksum_definition": "rgb_sha256 = SHA-256 of the decoded width*height*3 RGB bytes, row-major",
                "images": entries,
            }
            with open(os.path.join(FIXTURE_DIR, "manifest.json"), "w") as f:
                json.dump(manifest, f, indent=1)
                f.write("\n")
            total = sum(len(d) for _, d, _, _ in kept)
            print(f"wrote {len(kept)} fixtures ({total} bytes) to {FIXTURE_DIR}")
        return 1 if failures else 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
