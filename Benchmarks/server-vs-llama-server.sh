#!/usr/bin/env bash
# `smolvlm serve` next to llama.cpp's llama-server, one server at a time on the same GGUF files and
# flags (-t 2 -c 2048): the webcam page's request on a 640x480 JPEG frame sent back to back (p50/p95
# per frame; a new frame each time, and the same frame), and aggregate generated tokens/s of 1, 2
# and 4 concurrent text requests (-np 4); peak RSS of each. Prints a table with the ratios
# (llama-server time / ours) and the exact command lines. Benchmarks/server_bench.py does the work.
#
#   Benchmarks/server-vs-llama-server.sh [extra server_bench.py options, e.g. --json out.json]
#
# Environment:
#   LLAMA_SERVER  llama-server binary (default /root/llama/build/bin/llama-server)
#   OURS_CMD      our server command (default: build, then ".build/release/smolvlm serve"); any
#                 OpenAI-compatible server taking llama-server's flags works, e.g. OURS_CMD=$LLAMA_SERVER
#                 to check the script itself. SKIP_BUILD=1 uses the existing release binary.
#   TEXT, MMPROJ  model pair (default the synthetic SmolVLM-256M-shaped Q8_0 pair in models/; a 500M
#                 pair: python3 models/make_synthetic.py --preset smolvlm-500m --types q8_0 --out /tmp/m500)
#   THREADS (2), CTX (2048), RUNS (10 timed frames per mode), WARMUP (2), FRAME_TOKENS (100: the
#   page's max_tokens; "20,100" for both), STREAM_TOKENS (64), CONCURRENCY (1,2,4), REPEATS (3
#   batches per level), PHASES (frames,text), ROUNDS (1: repeat everything alternating, pool
#   samples), LLAMA_ARGS / OURS_ARGS (extra flags for one side).
#
# With the 256M pair on 2 cores the frame phase dominates: llama.cpp slices a 640x480 frame into
# 4x3 tiles + the overview (13 encoder passes, ~875 prompt positions), ~20 s a frame for llama-server.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
llama="${LLAMA_SERVER:-/root/llama/build/bin/llama-server}"
[ -x "$llama" ] || { echo "set LLAMA_SERVER to llama.cpp's llama-server binary (build/bin/llama-server)" >&2; exit 2; }
if [ -n "${OURS_CMD:-}" ]; then
    ours="$OURS_CMD"
else
    [ -n "${SKIP_BUILD:-}" ] || (cd "$root" && swift build -c release --product smolvlm >/dev/null)
    ours="$root/.build/release/smolvlm serve"
fi
python3 -c "import numpy, PIL, requests" 2>/dev/null || { echo "needs python3 with numpy, pillow, requests" >&2; exit 2; }

exec python3 "$root/Benchmarks/server_bench.py" \
    --llama "$llama" --ours "$ours" \
    --text "${TEXT:-$root/models/smolvlm-256m-text-q8_0.gguf}" \
    --mmproj "${MMPROJ:-$root/models/smolvlm-256m-mmproj-q8_0.gguf}" \
    --threads "${THREADS:-2}" --ctx "${CTX:-2048}" \
    --runs "${RUNS:-10}" --warmup "${WARMUP:-2}" --frame-tokens "${FRAME_TOKENS:-100}" \
    --stream-tokens "${STREAM_TOKENS:-64}" --concurrency "${CONCURRENCY:-1,2,4}" --repeats "${REPEATS:-3}" \
    --phases "${PHASES:-frames,text}" --rounds "${ROUNDS:-1}" \
    --llama-args "${LLAMA_ARGS:-}" --ours-args "${OURS_ARGS:-}" \
    "$@"
