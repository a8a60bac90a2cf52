#!/usr/bin/env bash
# The main demonstration: fetch the data sets, build the library and the examples (reusing
# build/), run the examples that exist, and print where their outputs are.
# SPCNN_BUILD_DIR chooses another build directory.
set -euo pipefail
cd "$(dirname "$0")/.."

build=${SPCNN_BUILD_DIR:-build}
out=out
outputs=()
step() { echo; echo "== $* ($SECONDS s)"; }
die() { echo "demo: $*" >&2; exit 1; }

step "data: scripts/get-data.sh"
[ -x scripts/get-data.sh ] || die "scripts/get-data.sh is missing or not executable"
scripts/get-data.sh

step "build: $build"
cmake -S . -B "$build" -DSPCNN_BUILD_EXAMPLES=ON > /dev/null
wanted=(mnist_grid) # later: train, generate
examples=()
for e in "${wanted[@]}"; do
    if [ -f "examples/$e.c" ]; then
        examples+=("$e")
    else
        echo "demo: examples/$e.c does not exist yet; skipping it"
    fi
done
cmake --build "$build" -j"$(nproc)" --target spatialpixelcnn "${examples[@]}"
mkdir -p "$out"

# grid <example> <IDX images> <output PNG>: a grid of the first images of a data set.
grid() {
    [ -f "$2" ] || die "$2 is missing: scripts/get-data.sh should have written it"
    echo "+ $build/examples/$1 $2 $3"
    "$build/examples/$1" "$2" "$3"
    outputs+=("$3")
}
for e in "${examples[@]}"; do
    case $e in
        mnist_grid)
            step "examples/mnist_grid: MNIST and Fashion-MNIST test images"
            grid mnist_grid data/mnist/t10k-images-idx3-ubyte "$out/mnist-test-grid.png"
            if [ -f data/fashion-mnist/t10k-images-idx3-ubyte ]; then
                grid mnist_grid data/fashion-mnist/t10k-images-idx3-ubyte \
                    "$out/fashion-mnist-test-grid.png"
            fi
            ;;
    esac
done

step "done"
if [ ${#outputs[@]} -eq 0 ]; then
    echo "No example produced output yet (training and generation come with later releases)."
else
    echo "Outputs:"
    for f in "${outputs[@]}"; do
        echo "  $PWD/$f"
    done
fi
echo "Data: $PWD/data   Build: $PWD/$build"
