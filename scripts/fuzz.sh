#!/usr/bin/env bash
# Fuzz every parser of outside bytes (docs/testing.md, "Fuzzing"):
#   scripts/fuzz.sh [SECONDS] [TARGET...]   run each target SECONDS (default 60)
#   scripts/fuzz.sh --seeds                 rewrite the seed corpora in tests/fuzz/corpus
# Configures build-fuzz/ with clang (-DSPCNN_FUZZ=ON: libFuzzer, ASan, UBSan), builds the
# targets of tests/fuzz, and runs each on a fresh copy of its checked-in corpus plus the seeds
# too large to check in (build-fuzz/corpus/TARGET; the checked-in corpus never grows), with a
# per-input timeout, a memory limit and leak detection. Exits non-zero if any target crashed,
# leaked, timed out or ran out of memory; the input that did it is in build-fuzz/findings/.
# SPCNN_FUZZ_JOBS targets run at a time (default 2, or 1 on a 1-core machine);
# SPCNN_FUZZ_BUILD_DIR chooses another build directory.
set -euo pipefail
cd "$(dirname "$0")/.."

all_targets=(model_file model_path classifier_file idx idx_pipe png cli_sizes cli_flags
    cli_png_header)
build=${SPCNN_FUZZ_BUILD_DIR:-build-fuzz}
ncpu=$(nproc)
jobs=${SPCNN_FUZZ_JOBS:-$((ncpu < 2 ? 1 : 2))}
start=$SECONDS

seeds_only=0
seconds=60
if [ "${1:-}" = --seeds ]; then
    seeds_only=1
    shift
elif [ $# -gt 0 ]; then
    seconds=$1
    shift
fi
case $seconds in
    '' | *[!0-9]*) echo "usage: scripts/fuzz.sh [SECONDS] [TARGET...] | --seeds" >&2; exit 2 ;;
esac
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all_targets[@]}")
for t in "${targets[@]}"; do
    [[ " ${all_targets[*]} " == *" $t "* ]] || {
        echo "fuzz.sh: unknown target '$t' (${all_targets[*]})" >&2
        exit 2
    }
done

command -v clang > /dev/null || {
    echo "fuzz.sh: clang not found (scripts/install-deps.sh installs clang, libclang-rt-14-dev" \
        "and libfuzzer-14-dev)" >&2
    exit 1
}
echo "== configure and build $build (clang, libFuzzer, ASan, UBSan)"
CC=clang cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSPCNN_FUZZ=ON \
    -DSPCNN_BUILD_TESTS=OFF -DSPCNN_BUILD_EXAMPLES=OFF -DSPCNN_BUILD_BENCH=OFF > /dev/null
cmake --build "$build" -j"$ncpu" --target fuzz_make_seeds "${all_targets[@]/#/fuzz_}" \
    > "$build/build.log" 2>&1 || {
    tail -40 "$build/build.log"
    exit 1
}
echo "   built in $((SECONDS - start)) s"

if [ $seeds_only = 1 ]; then
    # Files of the same names are overwritten; regression inputs added by hand stay.
    "$build/tests/fuzz/fuzz_make_seeds" tests/fuzz/corpus
    du -sh tests/fuzz/corpus/*
    exit 0
fi

rm -rf "$build/corpus" "$build/logs"
mkdir -p "$build/corpus" "$build/logs" "$build/findings"
"$build/tests/fuzz/fuzz_make_seeds" --large "$build/corpus"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

run_target() { # run_target <target>: libFuzzer's exit status
    local t=$1 extra=()
    mkdir -p "$build/corpus/$t"
    cp tests/fuzz/corpus/"$t"/* "$build/corpus/$t/"
    case $t in
        cli_png_header) ;; # bytes of a file, not text
        # The parsers print why they refuse a value: keep that off the log.
        cli_*) extra=(-dict=tests/fuzz/cli.dict -close_fd_mask=2) ;;
        # Each input must fit in a pipe's buffer (64 KiB unless grown).
        idx_pipe) extra=(-max_len=65536) ;;
    esac
    "$build/tests/fuzz/fuzz_$t" -max_total_time="$seconds" -timeout=25 -rss_limit_mb=2048 \
        -detect_leaks=1 -print_final_stats=1 -artifact_prefix="$build/findings/$t-" \
        "${extra[@]}" "$build/corpus/$t" > "$build/logs/$t.log" 2>&1
}

echo "== ${#targets[@]} targets, $seconds s each, $jobs at a time"
declare -A pid_of
for t in "${targets[@]}"; do
    while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do
        wait -n || true
    done
    run_target "$t" &
    pid_of[$t]=$!
done
failed=()
for t in "${targets[@]}"; do
    wait "${pid_of[$t]}" || failed+=("$t")
done

echo
echo "== scripts/fuzz.sh: $seconds s per target, $jobs at a time"
printf '   %-16s %12s %8s %8s %8s %11s  %s\n' target execs exec/s cov ft corpus result
for t in "${targets[@]}"; do
    log=$build/logs/$t.log
    # A target that fails on its first input has no status line: nothing to match is no error.
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    last=$(grep -E '^#[0-9]+.*cov: ' "$log" | tail -1 || true)
    cov=$(sed -n 's/.*cov: \([0-9]*\).*/\1/p' <<< "$last")
    ft=$(sed -n 's/.*ft: \([0-9]*\).*/\1/p' <<< "$last")
    corpus=$(sed -n 's/.*corp: \([0-9]*\/[0-9]*[a-zA-Z]*\).*/\1/p' <<< "$last")
    result=ok
    [[ " ${failed[*]} " == *" $t "* ]] && result="FAILED: $(grep -m1 -E 'ERROR: |SUMMARY: |fuzz check failed' "$log" || echo "see $log")"
    printf '   %-16s %12s %8s %8s %8s %11s  %s\n' "$t" "${execs:-?}" "${rate:-?}" "${cov:-?}" \
        "${ft:-?}" "${corpus:-?}" "$result"
done
echo "   logs in $build/logs, crashing inputs in $build/findings; $((SECONDS - start)) s in all"
if [ ${#failed[@]} -gt 0 ]; then
    echo "== FAILED: ${failed[*]}"
    exit 1
fi
echo "== all ${#targets[@]} targets passed"
