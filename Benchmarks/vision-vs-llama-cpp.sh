#!/usr/bin/env bash
# Image question, ours next to llama.cpp's llama-mtmd-cli, alternating in one sitting on the same
# files: encoder ms per tile and whole-process time to the first token, with llama.cpp's default
# slicing and with one tile per image; then the real-time frame (640×480, 20 tokens, wall time
# and peak RSS), the warm frame, text prefill/decode next to llama-bench, and the kernels' share
# of this CPU's peak (the goals of Benchmarks/README.md).
#
#   LLAMA_BIN=/path/to/llama.cpp/build/bin Benchmarks/vision-vs-llama-cpp.sh [model] [mmproj] [image] [threads]
#
# Defaults: the synthetic SmolVLM-256M-shaped Q8_0 pair (models/build-test-models.sh), the
# 1024x768 JPEG fixture, 2 threads. llama.cpp has no tile budget; its closest setting,
# --image-max-tokens 64, still gives one slice + the overview (2 tiles), so the --max-tiles 1 row
# compares per-tile cost and our single-tile time to first token against its two-tile one.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
model="${1:-$root/models/smolvlm-256m-text-q8_0.gguf}"
mmproj="${2:-$root/models/smolvlm-256m-mmproj-q8_0.gguf}"
image="${3:-$root/Tests/Fixtures/images/motorcycle-1024x768.jpg}"
threads="${4:-2}"
runs="${RUNS:-3}"
mtmd="${LLAMA_BIN:-}/llama-mtmd-cli"
[ -x "$mtmd" ] || { echo "set LLAMA_BIN to a folder with llama-mtmd-cli (llama.cpp build/bin)" >&2; exit 2; }
(cd "$root" && swift build -c release --product smolvlm >/dev/null)
ours="$root/.build/release/smolvlm"

# Each run is one whole process answering with a single token: model load + image decode +
# preprocess + encode + prefill + one decode step, i.e. time to first token from a cold start
# (the page cache is warm after the first run). Encode per tile comes from each tool's own log.
now() { date +%s.%N; }

llama_once() {
    local t0 log t1
    t0=$(now)
    log="$("$mtmd" -m "$model" --mmproj "$mmproj" --image "$image" -p "Describe this image." \
        -n 1 -t "$threads" --temp 0 "$@" 2>&1)"
    t1=$(now)
    python3 -c '
import re, sys
enc = [int(x) for x in re.findall(r"batch encoding done in (\d+) ms", sys.argv[1])]
print(f"{sum(enc)/max(len(enc),1):.1f} {len(enc)} {(float(sys.argv[3])-float(sys.argv[2]))*1000:.0f}")
' "$log" "$t0" "$t1"
}

ours_once() {
    local t0 log t1
    t0=$(now)
    log="$("$ours" caption --model "$model" --mmproj "$mmproj" --image "$image" -n 1 --threads "$threads" "$@" 2>&1)"
    t1=$(now)
    python3 -c '
import re, sys
m = re.search(r"\(\s*([\d.]+) ms per tile\)", sys.argv[1])
print(f"{float(m.group(1)) if m else -1:.1f} {(float(sys.argv[3])-float(sys.argv[2]))*1000:.0f}")
' "$log" "$t0" "$t1"
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

report() {
    local label="$1"; shift
    local le=() lt=() ln=0 oe=() ot=()
    for _ in $(seq "$runs"); do
        read -r e n t < <(llama_once ${LLAMA_ARGS:-})
        le+=("$e"); lt+=("$t"); ln="$n"
        read -r e t < <(ours_once "$@")
        oe+=("$e"); ot+=("$t")
    done
    printf '%-26s llama.cpp: %8s ms/tile (%s tiles), first token %7s ms | ours: %8s ms/tile, first token %7s ms\n' \
        "$label" "$(printf '%s\n' "${le[@]}" | median)" "$ln" "$(printf '%s\n' "${lt[@]}" | median)" \
        "$(printf '%s\n' "${oe[@]}" | median)" "$(printf '%s\n' "${ot[@]}" | median)"
}

echo "model $(basename "$model"), mmproj $(basename "$mmproj"), image $(basename "$image"), $threads threads, median of $runs"
report "default slicing"
LLAMA_ARGS="--image-max-tokens 64" report "one tile (--max-tiles 1)" --max-tiles 1

# The real-time frame: a 640×480 JPEG, 20 tokens, whole process, with peak RSS (GNU time's %M).
frame="${FRAME:-$root/Tests/Fixtures/images/coffee-640x480.jpg}"
frame_once() {
    /usr/bin/time -f "%e %M" "$@" >/dev/null 2>/tmp/frame.$$ || true
    tail -n 1 /tmp/frame.$$
}
fl=(); fo=(); flm=0; fom=0
for _ in $(seq "$runs"); do
    read -r t m < <(frame_once "$mtmd" -m "$model" --mmproj "$mmproj" --image "$frame" -p "What do you see?" -n 20 \
        -t "$threads" --temp 0 --image-max-tokens 64)
    fl+=("$t"); flm=$m
    read -r t m < <(frame_once "$ours" caption --model "$model" --mmproj "$mmproj" --image "$frame" --prompt "What do you see?" \
        -n 20 --threads "$threads" --max-tiles 1)
    fo+=("$t"); fom=$m
done
rm -f /tmp/frame.$$
printf '%-26s llama.cpp: %6s s, %5d MiB peak | ours: %6s s, %5d MiB peak\n' "frame, 20 tokens" \
    "$(printf '%s\n' "${fl[@]}" | median)" $((flm / 1024)) "$(printf '%s\n' "${fo[@]}" | median)" $((fom / 1024))
echo "warm frame (ours, model loaded):"
"$ours" bench vision --model "$model" --mmproj "$mmproj" --image "$frame" --max-tiles 1 -n 20 -r "$runs" --threads "$threads" \
    | grep -E "preprocess|encode per tile|prefill|time to first token|decode"

# Text: prefill of 128 tokens and 64 decoded, next to llama-bench.
bench="${LLAMA_BIN}/llama-bench"
if [ -x "$bench" ]; then
    echo "text $(basename "$model"): llama-bench pp128 / tg64, then ours"
    "$bench" -m "$model" -p 128 -n 64 -t "$threads" 2>/dev/null | grep -E "pp128|tg64" | awk -F'|' '{print "  llama.cpp", $(NF-2), $(NF-1)}'
    "$ours" bench model --model "$model" -p 128 -n 64 -t "$threads" | grep -E "^(pp|tg)" | sed 's/^/  ours      /'
fi

# Kernels at SigLIP tile shapes as a share of the register-only peak loops.
"$ours" bench kernels --types "${KERNEL_TYPES:-q8_0,f16}" --threads "$threads" | grep -E "^peak|siglip|^type"
