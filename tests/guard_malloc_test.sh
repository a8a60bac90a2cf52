#!/bin/sh
# Generation and training with every heap block ending against an inaccessible page
# (support/guard_malloc.c, LD_PRELOAD), in fp32 and, where the CPU has AVX-512 BF16, in bf16:
# a read past the end of a block in oneDNN, which AddressSanitizer cannot see, faults here.
# oneDNN 2.6.3's AMX brgemm convolution did on nearly every shape (nn/dnnl_ctx.c, conv.c).
# usage: guard_malloc_test.sh SPCNN GUARD_MALLOC_SO MODEL TMPDIR
set -u
spcnn=$1 guard=$2 model=$3
tmp=$(mktemp -d "${4:-/tmp}/guard-malloc.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
failed=0

# 40 random 28x28 images (IDX): the default network's real shapes, a few steps.
idx() { # idx FILE COUNT
    printf '\000\000\010\003\000\000\000\050\000\000\000\034\000\000\000\034' > "$1"
    head -c $((28 * 28 * $2)) /dev/urandom >> "$1"
}
mkdir -p "$tmp/data"
idx "$tmp/data/train-images-idx3-ubyte" 40
idx "$tmp/data/t10k-images-idx3-ubyte" 40

run() { # run WHAT COMMAND...
    what=$1
    shift
    if LD_PRELOAD=$guard "$@" > "$tmp/out" 2>&1; then
        echo "ok: $what"
    else
        echo "FAIL: $what (exit $?): $*"
        tail -n 5 "$tmp/out"
        failed=1
    fi
}

precisions=fp32
grep -q avx512_bf16 /proc/cpuinfo && precisions="fp32 bf16" ||
    echo "bf16 not checked: the CPU has no AVX-512 BF16"
for p in $precisions; do
    # Two images of 28x28 on two workers: the whole network's plans and the corner's. (From 4
    # images the bands take cone plans too, whose blocks outnumber the kernel's default limit
    # of 65 530 mappings at two each; test_conv checks those shapes' kernels.)
    run "sample, $p" "$spcnn" sample --model "$model" --size 28 --count 2 --precision "$p" \
        --threads 2 --out "$tmp/s.png"
    run "train, $p" "$spcnn" train --data "$tmp/data" --out "$tmp/m-$p.spcnn" --steps 2 \
        --batch_size 8 --train-precision "$p" --validation 0 --no-eval --prior-components 0 \
        --threads 2
done
[ $failed = 0 ] && echo "guard_malloc_test: all runs ended" || exit 1
