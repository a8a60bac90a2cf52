#!/bin/sh
# spcnn train and sample under mpirun on this machine (docs/mpi.md): 2 ranks train as one
# process does (the log's figures agree to 1e-4), rank 0 alone writes, SIGTERM to one rank
# stops every rank with rank 0's checkpoint saved, resuming works with another number of
# ranks, a failure before training stops every rank, and sample gives one process's bytes.
# Usage: mpi_cli_test.sh <path to spcnn> <path to mpirun> [temporary folder]
set -u
export LC_ALL=C
spcnn=$1 mpirun=$2
[ -x "$spcnn" ] || { echo "FAIL: $spcnn is not an executable"; exit 1; }
tmp=$(mktemp -d "${3:-${TMPDIR:-/tmp}}/spcnn-mpi.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# Open MPI on one machine, as root, over shared memory only, more ranks than cores.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_btl=self,vader
export OMPI_MCA_btl_vader_single_copy_mechanism=none OMP_WAIT_POLICY=passive
EXPECT_TIMEOUT=120 # no command may hang the job
# shellcheck source=tests/cli_expect.sh
. "$(dirname "$0")/cli_expect.sh"

/usr/bin/python3 - "$tmp" <<'PY' || { echo "FAIL: could not write the data set"; exit 1; }
import os, struct, sys
tmp = sys.argv[1]
def discs(n):  # a bright disc per 12 x 12 image, its centre following from the index
    return bytes(max(0, 255 - 40 * ((y - 3 - i % 6) ** 2 + (x - 3 - i * 5 % 6) ** 2))
                 for i in range(n) for y in range(12) for x in range(12))
os.mkdir(tmp + "/idx")
for name, n in (("train", 40), ("t10k", 8)):
    with open("%s/idx/%s-images-idx3-ubyte" % (tmp, name), "wb") as f:
        f.write(struct.pack(">IIII", 0x803, n, 12, 12) + discs(n))
PY
tiny="--patch-size 8 --image-size 12 --nr-filters 4 --nr-resnet 1 --nr-mix 2 --latent-size 3
      --batch-size 4 --eval-images 4 --prior-components 0"
# 1. One epoch (9 steps and an evaluation) in one process and on 2 ranks.
# shellcheck disable=SC2086
expect 0 'trained 9 steps' "$spcnn" train --data "$tmp/idx" --out "$tmp/one.spcnn" --steps 9 $tiny
# shellcheck disable=SC2086
expect 0 'ranks: 2 \(mpirun\), each training on 2 to 2 images of each batch of 4' \
    "$mpirun" -np 2 "$spcnn" train --data "$tmp/idx" --out "$tmp/two.spcnn" --steps 9 $tiny
[ "$(grep -c 'trained 9 steps' "$tmp/out")" -eq 1 ] && pass || fail "rank 1 printed to stdout"
# The same figures (training and validation bits/dim, KL) to 1e-4: the gradient's sums run in
# another order, nothing else differs.
if paste -d, "$tmp/one.spcnn.log.csv" "$tmp/two.spcnn.log.csv" | awk -F, '
    NR == 1 { next }
    { for (i = 4; i <= 7; i++) { d = $i - $(i + 7); if (d < 0) d = -d; if (d > 1e-4) bad = 1 } }
    END { exit NR == 2 && !bad ? 0 : 1 }'; then
    pass
else
    fail "the logs differ:"; cat "$tmp/one.spcnn.log.csv" "$tmp/two.spcnn.log.csv"
fi
expect 0 'images seen: *36' "$spcnn" info "$tmp/two.spcnn"

# 2. SIGTERM to the last rank: every rank stops after the same step, rank 0 saves.
# shellcheck disable=SC2086
"$mpirun" -np 2 "$spcnn" train --data "$tmp/idx" --out "$tmp/sig.spcnn" --steps 1000000 \
    --checkpoint-every 1000000 --no-eval $tiny > "$tmp/sig.out" 2>&1 &
job=$!
i=0
while [ $i -lt 600 ] && ! grep -q 'step [1-9]' "$tmp/sig.out" 2> /dev/null; do
    sleep 0.1
    i=$((i + 1))
done
ranks=$(pgrep -P $job)
# shellcheck disable=SC2086
kill -TERM $(echo $ranks | awk '{ print $NF }')
wait $job
got=$?
if [ $got -eq 130 ] && grep -q 'stopped by a signal to another rank at step' "$tmp/sig.out"; then
    pass
else
    fail "SIGTERM to a rank: exit $got"; sed 's/^/    /' "$tmp/sig.out"
fi
expect 0 'step: *[1-9]' "$spcnn" info "$tmp/sig.spcnn"
steps=$(sed -n 's/^step: *//p' "$tmp/out")

# 3. Resuming with another number of ranks: the checkpoint holds nothing of a rank.
expect 0 'trained 2 steps' "$spcnn" train --data "$tmp/idx" --resume "$tmp/sig.spcnn" \
    --steps $((steps + 2)) --no-eval
expect 0 'trained 3 steps' "$mpirun" -np 3 "$spcnn" train --data "$tmp/idx" \
    --resume "$tmp/sig.spcnn" --steps $((steps + 5)) --no-eval

# 4. Failures before training stop every rank; nothing is left waiting.
# shellcheck disable=SC2086
expect 1 'not a folder|No such file' "$mpirun" -np 2 "$spcnn" train --data "$tmp/idx" \
    --out "$tmp/none/m.spcnn" --steps 1 $tiny
expect 2 '3 ranks share batches of 2 images' "$mpirun" -np 3 "$spcnn" train --data "$tmp/idx" \
    --out "$tmp/b.spcnn" --steps 1 --batch-size 2 --patch-size 8 --image-size 12 \
    --nr-filters 4 --nr-resnet 1

# 5. sample: the images spread over the ranks are one process's bytes; 101 images cross the
#    batch of 100 that takes a seed of its own.
expect 0 'generated 7 images' "$spcnn" sample --model "$tmp/one.spcnn" --size 12x14 --count 7 \
    --out "$tmp/s1.png" --out-dir "$tmp/d1" --seed 5
expect 0 'generated 7 images' "$mpirun" -np 2 "$spcnn" sample --model "$tmp/one.spcnn" \
    --size 12x14 --count 7 --out "$tmp/s2.png" --out-dir "$tmp/d2" --seed 5
cmp -s "$tmp/s1.png" "$tmp/s2.png" && diff -r "$tmp/d1" "$tmp/d2" > /dev/null && pass ||
    fail "sample on 2 ranks differs from one process"
expect 0 'generated 101 images' "$spcnn" sample --model "$tmp/one.spcnn" --size 8 --count 101 \
    --out "$tmp/g1.png"
expect 0 'generated 101 images' "$mpirun" -np 2 "$spcnn" sample --model "$tmp/one.spcnn" \
    --size 8 --count 101 --out "$tmp/g2.png"
cmp -s "$tmp/g1.png" "$tmp/g2.png" && pass || fail "101 samples on 2 ranks differ"

echo "mpi_cli_test: $checks checks passed, $failures failed"
[ $failures -eq 0 ]
