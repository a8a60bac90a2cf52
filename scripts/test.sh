#!/usr/bin/env bash
# Build and run every test: a RelWithDebInfo build with warnings as errors in build/, then the
# same with AddressSanitizer and UndefinedBehaviorSanitizer in build-asan/ (skipped when
# SPCNN_SKIP_SANITIZE=1), then the MPI feature (-DSPCNN_MPI=ON) in build-mpi/: only what its
# tests need (the library, spcnn, test_mpi, bench_mpi) and only its tests (label mpi: 2 ranks
# under mpirun; skipped when SPCNN_SKIP_MPI=1). Exits non-zero on the first failure and prints
# the time of each phase. SPCNN_BUILD_DIR, SPCNN_ASAN_BUILD_DIR and SPCNN_MPI_BUILD_DIR choose
# other build directories.
set -euo pipefail
cd "$(dirname "$0")/.."

build=${SPCNN_BUILD_DIR:-build}
asan=${SPCNN_ASAN_BUILD_DIR:-build-asan}
mpi=${SPCNN_MPI_BUILD_DIR:-build-mpi}
jobs=$(nproc)
timings=()
current=""

summary() {
    local rc=$?
    echo
    echo "== scripts/test.sh phases (seconds)"
    local t
    for t in "${timings[@]}"; do
        echo "   $t"
    done
    if [ $rc -ne 0 ]; then
        echo "== FAILED in phase: ${current:-setup} (exit $rc)"
    else
        echo "== all passed in $SECONDS s"
    fi
}
trap summary EXIT

phase() { # phase <name> <command...>
    current=$1
    shift
    echo
    echo "== $current: $*"
    local start=$SECONDS
    "$@"
    timings+=("$(printf '%-28s %5d' "$current" $((SECONDS - start)))")
}

run_suite() { # run_suite <build dir> <label> <extra cmake options...>
    local dir=$1 label=$2
    shift 2
    phase "$label configure" cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DSPCNN_WERROR=ON -DSPCNN_BUILD_TESTS=ON "$@"
    phase "$label build" cmake --build "$dir" -j"$jobs"
    phase "$label ctest" ctest --test-dir "$dir" --output-on-failure -j2
}

run_suite "$build" release -DSPCNN_SANITIZE=OFF
if [ "${SPCNN_SKIP_SANITIZE:-0}" = 1 ]; then
    echo "== sanitizer build skipped (SPCNN_SKIP_SANITIZE=1)"
else
    run_suite "$asan" asan -DSPCNN_SANITIZE=ON
fi
if [ "${SPCNN_SKIP_MPI:-0}" = 1 ]; then
    echo "== MPI build skipped (SPCNN_SKIP_MPI=1)"
else
    phase "mpi configure" cmake -S . -B "$mpi" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DSPCNN_WERROR=ON -DSPCNN_BUILD_TESTS=ON -DSPCNN_MPI=ON
    phase "mpi build" cmake --build "$mpi" -j"$jobs" --target spatialpixelcnn spcnn test_mpi \
        bench_mpi
    phase "mpi ctest" ctest --test-dir "$mpi" --output-on-failure -L mpi
fi
current=""
