#!/usr/bin/env bash
# The main demonstration: fetch the data sets, build the library and the programs (reusing
# build/), then with the bundled MNIST model (models/mnist.spcnn) — or a freshly trained one —
# evaluate it and generate 100 random digits at 28x28, and with the bundled multiscale model
# (models/mnist-multiscale.spcnn; the fresh one when training) 16 at 56x56 and test digits
# reconstructed at 28, 56 and 224 pixels. Prints where everything is.
#
#   SPCNN_DEMO_TRAIN_MINUTES=N   train a new model for N minutes instead of using the bundled
#                                one (resumes out/mnist.spcnn when it exists)
#   SPCNN_DEMO_THREADS=T         threads for training and generation (default 2)
#   SPCNN_BUILD_DIR=DIR          another build directory
set -euo pipefail
cd "$(dirname "$0")/.."

build=${SPCNN_BUILD_DIR:-build}
threads=${SPCNN_DEMO_THREADS:-2}
out=out
outputs=()
step() { echo; echo "== $* ($SECONDS s)"; }
die() { echo "demo: $*" >&2; exit 1; }
# spcnn chooses libgomp's wait settings itself unless they are set (docs/threading.md).

step "data: scripts/get-data.sh"
scripts/get-data.sh

step "build: $build"
cmake -S . -B "$build" -DSPCNN_BUILD_EXAMPLES=ON > /dev/null
cmake --build "$build" -j"$(nproc)" --target spatialpixelcnn spcnn mnist_grid
spcnn=$build/examples/spcnn
mkdir -p "$out"

step "the data: a grid of MNIST test digits"
"$build/examples/mnist_grid" data/mnist/t10k-images-idx3-ubyte "$out/mnist-test-grid.png" 100 10
outputs+=("$out/mnist-test-grid.png")

model=models/mnist.spcnn
if [ -n "${SPCNN_DEMO_TRAIN_MINUTES:-}" ]; then
    model=$out/mnist.spcnn
    resume=()
    [ -f "$model" ] && resume=(--resume "$model")
    step "train: $SPCNN_DEMO_TRAIN_MINUTES minutes on MNIST into $model"
    "$spcnn" train --data data/mnist --out "$model" "${resume[@]}" \
        --minutes "$SPCNN_DEMO_TRAIN_MINUTES" --threads "$threads" --eval-images 30
    outputs+=("$model" "$model.log.csv")
fi
[ -f "$model" ] || die "$model is missing (set SPCNN_DEMO_TRAIN_MINUTES=N to train one)"

step "the model: $model"
"$spcnn" info "$model"

step "evaluate on 100 test images (bits/dim over all 8x8 patches, and of whole images)"
"$spcnn" eval --model "$model" --data data/mnist --images 100 --threads "$threads"

step "sample 100 digits at 28x28"
"$spcnn" sample --model "$model" --size 28 --count 100 --seed 1 --threads "$threads" \
    --out "$out/samples-28.png"
outputs+=("$out/samples-28.png")

# Upscaling: the bundled multiscale model (fine-tuned on 8x8 patches of digits resampled to 28
# to 56 pixels, half of its steps at 28) draws larger digits far better; a freshly trained
# model is used as it is.
upscaler=$model
[ -z "${SPCNN_DEMO_TRAIN_MINUTES:-}" ] && upscaler=models/mnist-multiscale.spcnn
step "sample 16 digits at 56x56 with $upscaler (trained on 8x8 patches only)"
"$spcnn" sample --model "$upscaler" --size 56 --count 16 --seed 2 --threads "$threads" \
    --out "$out/samples-56.png"
outputs+=("$out/samples-56.png")

step "reconstruct 4 test digits with $upscaler: the VAE decoder, then at 28, 56 and 224 pixels"
"$spcnn" reconstruct --model "$upscaler" --data data/mnist --count 4 --seed 3 \
    --threads "$threads" --out "$out/reconstruct.png"
outputs+=("$out/reconstruct.png")

step "done"
echo "Outputs:"
for f in "${outputs[@]}"; do
    echo "  $PWD/$f"
done
echo "Data: $PWD/data   Build: $PWD/$build"
