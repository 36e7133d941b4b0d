#!/usr/bin/env bash
# NEON kernels vs the scalar oracle, cross-compiled for AArch64 and run under qemu.
#
# Needs (Debian 12 / Ubuntu package names):
#   apt-get install -y --no-install-recommends gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user
# (gcc-aarch64-linux-gnu brings binutils-aarch64-linux-gnu; clang --target=aarch64-linux-gnu
# is used as well when it can link against that sysroot.)
#
# Usage: Tests/NEON/run.sh
#   SMOLVLM_REQUIRE_NEON=1  fail instead of skipping when the toolchain or qemu is missing
#   SV_NEON_CC="cmd ..."    use only this compiler (e.g. "clang --target=aarch64-linux-gnu")
#
# Each compiler's binary runs twice: on qemu's "max" CPU (has sdot: both NEON tables are
# tested and dispatch must detect ASIMDDP) and on a Cortex-A53 (ARMv8.0, no sdot:
# dispatch must not offer the dotprod table; only the detection is checked there).
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
sysroot=/usr/aarch64-linux-gnu

skip() {
    if [ -n "${SMOLVLM_REQUIRE_NEON:-}" ]; then
        echo "error: $1 (SMOLVLM_REQUIRE_NEON is set)" >&2
        exit 1
    fi
    echo "skipped: $1"
    exit 0
}

command -v qemu-aarch64 >/dev/null 2>&1 || skip "qemu-aarch64 not found (apt-get install qemu-user)"
[ -e "$sysroot/lib/ld-linux-aarch64.so.1" ] || skip "no AArch64 sysroot at $sysroot (apt-get install libc6-dev-arm64-cross)"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Compilers that can build and link a trivial AArch64 program.
printf '#include <stdio.h>\nint main(void){puts("x");return 0;}\n' > "$work/probe.c"
compilers=()
if [ -n "${SV_NEON_CC:-}" ]; then
    candidates=("$SV_NEON_CC")
else
    candidates=("aarch64-linux-gnu-gcc" "clang --target=aarch64-linux-gnu")
fi
for cc in "${candidates[@]}"; do
    command -v ${cc%% *} >/dev/null 2>&1 || continue
    if $cc -o "$work/probe" "$work/probe.c" >/dev/null 2>&1; then
        compilers+=("$cc")
    fi
done
[ ${#compilers[@]} -gt 0 ] || skip "no AArch64 cross compiler (apt-get install gcc-aarch64-linux-gnu libc6-dev-arm64-cross)"

# Baseline ARMv8.0-A: sdot must come only from neon.c's function-level target attribute.
cflags=(-std=c11 -O2 -march=armv8-a -Wall -Wextra -I"$root/Kernels/include" -I"$root/Kernels")
sources=("$root"/Kernels/*.c "$root"/Kernels/generic/*.c "$root"/Kernels/arm/*.c)

total_pass=0
total_fail=0
tally() { # adds the "N passed, M failed" line of a log to the totals
    local line
    line=$(tail -n 1 "$1")
    if [[ $line =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
        total_pass=$((total_pass + BASH_REMATCH[1]))
        total_fail=$((total_fail + BASH_REMATCH[2]))
    else
        total_fail=$((total_fail + 1)) # crashed before its summary
    fi
}

for i in "${!compilers[@]}"; do
    cc=${compilers[$i]}
    out="$work/cc$i"
    mkdir -p "$out"
    echo "== $cc"
    objs=()
    for src in "${sources[@]}" "$root/Tests/NEON/neon_vs_generic.c"; do
        obj="$out/$(basename "$(dirname "$src")")_$(basename "${src%.c}").o"
        extra=()
        # Our own files must be warning-free; the rest only has to compile.
        case "$src" in */arm/neon.c|*/Tests/NEON/*) extra=(-Werror) ;; esac
        $cc "${cflags[@]}" "${extra[@]}" -c "$src" -o "$obj"
        objs+=("$obj")
    done
    $cc -o "$out/neon_vs_generic" "${objs[@]}" -lm -lpthread

    echo "-- qemu -cpu max (sdot present)"
    SV_EXPECT_DOTPROD=1 qemu-aarch64 -cpu max -L "$sysroot" "$out/neon_vs_generic" | tee "$out/max.log" || true
    tally "$out/max.log"

    echo "-- qemu -cpu cortex-a53 (ARMv8.0, no sdot: detection only)"
    SV_EXPECT_DOTPROD=0 SV_DETECT_ONLY=1 qemu-aarch64 -cpu cortex-a53 -L "$sysroot" "$out/neon_vs_generic" \
        | tee "$out/a53.log" || true
    tally "$out/a53.log"
done

echo "== all runs (${#compilers[@]} compiler(s) x 2 CPUs)"
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
