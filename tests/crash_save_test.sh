#!/bin/sh
# Crash-safe saves (docs/testing.md, docs/file-format.md "Saving atomically"): `spcnn train
# --checkpoint-every 1`, which saves the model after every step, is killed with SIGKILL at 20
# random moments. After each kill the model file must be a complete, valid model — the one
# before the interrupted save or the one after it, never a partial file: `spcnn info` loads it
# (every field, the table and the checksum are checked) and its step never goes back — and the
# temporary files of interrupted saves must not pile up: at most the one of the save that was
# killed may remain, and the next save of the same file removes it.
# Usage: crash_save_test.sh <path to spcnn> [temporary folder] [kills]
set -u
export LC_ALL=C
spcnn=$1
kills=${3:-20}
[ -x "$spcnn" ] || { echo "FAIL: $spcnn is not an executable"; exit 1; }
tmp=$(mktemp -d "${2:-${TMPDIR:-/tmp}}/spcnn-crash.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# A tiny data set (24 training and 4 test images of 12 x 12, IDX) and a tiny model, as
# tests/cli_test.sh makes them.
mkdir -p "$tmp/idx"
/usr/bin/python3 - "$tmp/idx" <<'PY' || { echo "FAIL: no data"; exit 1; }
import random, struct, sys
rng = random.Random(11)
def idx(name, n):
    out = bytearray(struct.pack(">IIII", 0x803, n, 12, 12))
    for _ in range(n):
        cy, cx = rng.uniform(3, 9), rng.uniform(3, 9)
        for r in range(12):
            for c in range(12):
                d = ((r - cy) ** 2 + (c - cx) ** 2) ** 0.5
                out.append(max(0, min(255, int(255 - 60 * d + rng.randint(-20, 20)))))
    open(sys.argv[1] + "/" + name, "wb").write(out)
idx("train-images-idx3-ubyte", 24)
idx("t10k-images-idx3-ubyte", 4)
PY
tiny="--patch-size 8 --image-size 12 --nr-filters 4 --nr-resnet 1 --nr-mix 2 --latent-size 3
      --batch-size 4"
opts="--no-eval --prior-components 0"
m=$tmp/m.spcnn
# shellcheck disable=SC2086
"$spcnn" train --data "$tmp/idx" --out "$m" --steps 1 $tiny $opts > "$tmp/first" 2>&1 ||
    { fail "the first training run failed"; cat "$tmp/first"; exit 1; }

temporaries() { find "$tmp" -maxdepth 1 -name 'm.spcnn.tmp-*' | wc -l; }
step_of() { "$spcnn" info "$1" 2>&1 | sed -n 's/^ *step: *\([0-9]*\)$/\1/p'; }

# A busy machine (fsync waits behind other writers) may make each round slow: after
# SPCNN_CRASH_BUDGET seconds (90) the loop stops early, but never before 5 kills.
budget=${SPCNN_CRASH_BUDGET:-90}
start=$(date +%s)
seed=${SPCNN_CRASH_SEED:-$(date +%s)}
echo "random kill moments from seed $seed (SPCNN_CRASH_SEED=$seed repeats them)"
last_step=$(step_of "$m")
seen_tmp=0 saves=0 i=1
while [ $i -le "$kills" ]; do
    # shellcheck disable=SC2086
    "$spcnn" train --data "$tmp/idx" --out "$m" --resume "$m" --steps 100000 \
        --checkpoint-every 1 $opts > "$tmp/run" 2>&1 &
    pid=$!
    # Wait for its first save (the model is loaded and the loop is running), then a random
    # 0 to 300 ms more: most of that time is spent saving.
    n=0
    while ! grep -q 'saved' "$tmp/run" 2>/dev/null && kill -0 $pid 2>/dev/null &&
        [ $n -lt 500 ]; do
        sleep 0.02; n=$((n + 1))
    done
    if ! kill -0 $pid 2>/dev/null; then
        fail "kill $i: the training run ended by itself:"; cat "$tmp/run"
    fi
    sleep "$(awk -v s="$seed" -v i="$i" 'BEGIN { srand(s + i); printf "%.3f", rand() * 0.3 }')"
    kill -KILL $pid 2>/dev/null
    wait $pid 2>/dev/null
    saves=$((saves + $(grep -c 'saved' "$tmp/run")))
    if ! "$spcnn" info "$m" > "$tmp/info" 2>&1; then
        fail "kill $i: the model file does not load"; cat "$tmp/info"
    fi
    step=$(step_of "$m")
    if [ -z "$step" ] || [ "$step" -lt "$last_step" ]; then
        fail "kill $i: step '$step' after step $last_step"
    fi
    last_step=${step:-$last_step}
    left=$(temporaries)
    [ "$left" -gt 0 ] && seen_tmp=$((seen_tmp + 1))
    if [ "$left" -gt 1 ]; then
        fail "kill $i: $left temporary files:"; ls -l "$tmp"
    fi
    i=$((i + 1))
    if [ $i -gt 5 ] && [ $(($(date +%s) - start)) -gt "$budget" ]; then
        echo "time budget of $budget s spent: stopping after $((i - 1)) of $kills kills"
        kills=$((i - 1))
        break
    fi
done

# A run that ends normally leaves no temporary file, whatever the kills left.
# shellcheck disable=SC2086
"$spcnn" train --data "$tmp/idx" --out "$m" --resume "$m" --steps 2 --checkpoint-every 1 \
    $opts > "$tmp/run" 2>&1 || { fail "the last run failed"; cat "$tmp/run"; }
[ "$(temporaries)" -eq 0 ] || { fail "temporary files after a normal run:"; ls -l "$tmp"; }
"$spcnn" info "$m" > "$tmp/info" 2>&1 || fail "the final model does not load"

echo "$kills SIGKILLs during $saves checkpoint saves: the model always loaded (step $last_step" \
    "at the end); a temporary file was left by $seen_tmp of the kills and removed by the next save"
if [ $failures -ne 0 ]; then
    echo "$failures failures"
    exit 1
fi
echo "all checks passed"
