#!/usr/bin/env bash
# Builds the libFuzzer targets with AddressSanitizer and runs each for a bounded time or number
# of executions; exits non-zero on any finding (crash, sanitizer report, failed check, leak,
# timeout, out-of-memory), printing the saved input and the command that reproduces it.
#
#   Fuzz/run.sh [--seconds N | --runs N] [TARGET ...]
#
# Default: 60 s per target, every target (FuzzGGUF FuzzImage FuzzTokenizer FuzzPrompt
# FuzzChatRequest). Corpora grow in .build-fuzz/corpus/TARGET (kept between runs); seeds are
# generated into .build-fuzz/seeds by Fuzz/make_seeds.py; findings go to .build-fuzz/findings.
# The tokenizer and prompt targets read SmolVLM's tokenizer from
# models/smolvlm-256m-text-q8_0.gguf (models/build-test-models.sh) or SMOLVLM_FUZZ_TOKENIZER.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"

# SwiftPM hands swiftc one -sanitize= flag per sanitizer, in a varying order, and swiftc keeps
# only the last: Swift code got either ASan or coverage. The combined flag, appended, gives both.
seconds=60 runs="" scratch=.build-fuzz
sanitizers=(--sanitize fuzzer --sanitize address -Xswiftc -sanitize=fuzzer,address)
targets=()
while [ $# -gt 0 ]; do
    case "$1" in
        --seconds) seconds="$2"; shift 2 ;;
        --runs) runs="$2"; shift 2 ;;
        -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
        *) targets+=("$1"); shift ;;
    esac
done
[ ${#targets[@]} -gt 0 ] || targets=(FuzzGGUF FuzzImage FuzzTokenizer FuzzPrompt FuzzChatRequest)

for t in "${targets[@]}"; do
    SMOLVLM_FUZZ=1 swift build -c release "${sanitizers[@]}" --scratch-path "$scratch" --product "$t" 2>&1 \
        | grep -E "error|warning: .*Fuzz/|Build of" || true
    [ -x "$scratch/release/$t" ] || { echo "Fuzz/run.sh: $t did not build" >&2; exit 1; }
done

seeds=.build-fuzz/seeds
if [ ! -f "$seeds/.made" ] || [ Fuzz/make_seeds.py -nt "$seeds/.made" ]; then
    . models/python-env.sh
    use_python_env -r Tests/Server/requirements.txt   # Pillow, for the image seeds
    rm -rf "$seeds"
    "$PYTHON" Fuzz/make_seeds.py "$seeds"
    touch "$seeds/.made"
fi

# Leaks are findings too; the Swift runtime's one-time metadata caches are not reported by
# LeakSanitizer because they stay reachable.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}"
export SWIFT_BACKTRACE="enable=no"   # libFuzzer prints the stack; the Swift backtracer would read freed memory

status=0
printf '%-16s %12s %10s %9s %9s  %s\n' target executions exec/s seconds "rss MB" findings
for t in "${targets[@]}"; do
    corpus=.build-fuzz/corpus/$t findings=.build-fuzz/findings/$t log=.build-fuzz/logs/$t.log
    mkdir -p "$corpus" "$findings" "$(dirname "$log")"
    limit=(-max_total_time="$seconds")
    [ -n "$runs" ] && limit=(-runs="$runs")
    dict=()
    [ -f "$seeds/$t.dict" ] && dict=(-dict="$seeds/$t.dict")
    start=$(date +%s)
    set +e
    "$scratch/release/$t" "$corpus" "$seeds/$t" "${dict[@]}" "${limit[@]}" \
        -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=1024 -print_final_stats=1 \
        -artifact_prefix="$findings/" >"$log" 2>&1
    rc=$?
    set -e
    elapsed=$(( $(date +%s) - start ))
    executions=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
    rss=$(grep -o 'stat::peak_rss_mb: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
    rate=$(( ${executions:-0} / (elapsed > 0 ? elapsed : 1) ))
    found=$(find "$findings" -type f | wc -l)
    printf '%-16s %12s %10s %9s %9s  %s\n' "$t" "${executions:-?}" "$rate" "$elapsed" "${rss:-?}" "$found"
    if [ "$rc" -ne 0 ] || [ "$found" -ne 0 ]; then
        status=1
        echo "--- $t: exit $rc; the end of $log:" >&2
        grep -E "finding:|ERROR|SUMMARY|Fatal error|Test unit written|deadly signal|out-of-memory|timeout" "$log" | head -20 >&2
        for f in "$findings"/*; do
            [ -f "$f" ] && echo "reproduce: $scratch/release/$t $f" >&2
        done
    fi
done
exit $status
