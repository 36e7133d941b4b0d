#!/usr/bin/env bash
# Builds Tests/Reference/preprocess_dump.cpp against the headers of the llama-cpp-python sdist
# that matches the installed wheel, linked (with rpath) to the wheel's libmtmd.so / libggml*.so.
# Reference-generation tooling only; never built by CI. Prints the binary's path on the last line.
#
#   Tests/Reference/build_preprocess_dump.sh            # -> ~/.cache/swift-smolvlm-reference/preprocess_dump-<version>
#
# Environment: LLAMA_SDIST=path/to/llama_cpp_python-<version>.tar.gz to skip the download
# (otherwise `pip download --no-deps --no-binary llama-cpp-python llama-cpp-python==<version>`, ~10 s);
# CXX (default g++); OUT_DIR (default ~/.cache/swift-smolvlm-reference).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PY="${PYTHON:-python3}"
VERSION="$("$PY" -c 'from importlib.metadata import version; print(version("llama-cpp-python"))')"
LIBDIR="$("$PY" -c 'import llama_cpp, os; print(os.path.join(os.path.dirname(llama_cpp.__file__), "lib"))')"
OUT_DIR="${OUT_DIR:-$HOME/.cache/swift-smolvlm-reference}"
OUT="$OUT_DIR/preprocess_dump-$VERSION"
CXX="${CXX:-g++}"
mkdir -p "$OUT_DIR"

# Rebuild only when the source or the library changed.
STAMP="$(cat "$HERE/preprocess_dump.cpp" "$LIBDIR/libmtmd.so" | sha256sum | cut -c1-16)"
if [[ -x "$OUT" && -f "$OUT.stamp" && "$(cat "$OUT.stamp")" == "$STAMP" ]]; then
    echo "$OUT"
    exit 0
fi

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
SDIST="${LLAMA_SDIST:-}"
if [[ -z "$SDIST" ]]; then
    for cand in "$OUT_DIR/llama_cpp_python-$VERSION.tar.gz" "/tmp/sd2/llama_cpp_python-$VERSION.tar.gz"; do
        [[ -f "$cand" ]] && SDIST="$cand" && break
    done
fi
if [[ -z "$SDIST" ]]; then
    "$PY" -m pip download --quiet --no-deps --no-binary llama-cpp-python -d "$OUT_DIR" "llama-cpp-python==$VERSION" >&2
    SDIST="$OUT_DIR/llama_cpp_python-$VERSION.tar.gz"
fi

V="llama_cpp_python-$VERSION/vendor/llama.cpp"
tar -xzf "$SDIST" -C "$TMP" --wildcards "$V/tools/mtmd/*.h" "$V/ggml/include/*" "$V/include/*"
SRC="$TMP/$V"

# libmtmd.so's own dependencies (libllama, libggml*) are found through its RUNPATH / our rpath.
"$CXX" -std=c++17 -O1 -w \
    -I"$SRC/tools/mtmd" -I"$SRC/ggml/include" -I"$SRC/include" \
    "$HERE/preprocess_dump.cpp" -o "$OUT.tmp" \
    -L"$LIBDIR" -lmtmd -lggml -lggml-base -Wl,-rpath,"$LIBDIR"
mv "$OUT.tmp" "$OUT"
echo "$STAMP" > "$OUT.stamp"
echo "built $OUT (llama-cpp-python $VERSION, $LIBDIR)" >&2
echo "$OUT"
