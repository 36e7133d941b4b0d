#!/usr/bin/env bash
# The image shim's error paths under AddressSanitizer and LeakSanitizer: 100 damaged copies
# (truncated, overwritten) of each fixture image. Any leak, overflow or use-after-free fails.
# Needs gcc and the libjpeg/libpng development packages (as the Swift build does).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
gcc -std=c11 -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer \
    -I "$root/Sources/CImageShim/include" \
    "$root/Sources/CImageShim/smol_image.c" "$root/Tests/ImageShim/leak_check.c" \
    $(pkg-config --cflags --libs libjpeg libpng) -o "$out/leak_check"
images="$root/Tests/Fixtures/images"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=halt_on_error=1 \
    "$out/leak_check" "$images/hubble-2000x600.jpg" "$images/astronaut-512x512.jpg" \
    "$images/camera-gray-640x480.png" "$images/coffee-rgba-300x200.png"
