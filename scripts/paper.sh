#!/usr/bin/env bash
# Reproduce the experiments of the Spatial PixelCNN paper (Akoury & Nguyen, Tables 1-3 and the
# figures): train every configuration for the same wall-time budget on one core each, score it
# with `spcnn score` on the MNIST test split, and write docs/paper-tables.md and its pictures.
#
# Resumable: every row keeps its model (with training state) and logs in out/paper/ROW/; a row
# whose log already reaches the budget is not trained again, an unfinished one is resumed, a
# scored one is not scored again (unless its model changed). Stop it at any moment (Ctrl-C:
# `spcnn train` saves a checkpoint) and run it again, in this session or the next. A scored
# row's results (score.json, the training log, cpu-seconds.txt: a few kB) are also kept in
# docs/paper-results/ROW/, to be committed: a row found there and not in out/paper is done (the
# tables read it from there), so losing out/paper loses the models, not the results.
#
# usage: scripts/paper.sh [--budget-minutes M] [--jobs J] [--rows LIST] [--samples N]
#                         [--threads T] [--tables-only] [--no-figures] [--plan]
#   --budget-minutes M  training wall time per row, evaluations included (default 30)
#   --jobs J            rows trained (and scored) at once, each on its own core with --threads
#                       threads (default 1; 2 on an idle 2-core machine halves the wall time)
#   --rows LIST         comma-separated row names (default: all, in the order of --plan)
#   --samples N         random samples per size, and reconstructions and bits/dim images
#                       (default 200; 100 for the rows whose windows are 16 or larger,
#                       50 for the large network)
#   --threads T         threads per job (default 1)
#   --tables-only       only rewrite docs/paper-tables.md from what is finished
#   --no-figures        do not make the figures (they need the p8 row)
#   --plan              print the rows and the estimated time, then stop
# Environment: SPCNN_BUILD_DIR (default build), SPCNN_PAPER_DIR (default out/paper),
# SPCNN_PAPER_DOC (default docs/paper-tables.md), SPCNN_PAPER_IMAGES (default docs/images/paper),
# SPCNN_PAPER_RESULTS (default docs/paper-results).
set -euo pipefail
cd "$(dirname "$0")/.."

build=${SPCNN_BUILD_DIR:-build}
dir=${SPCNN_PAPER_DIR:-out/paper}
doc=${SPCNN_PAPER_DOC:-docs/paper-tables.md}
images=${SPCNN_PAPER_IMAGES:-docs/images/paper}
results=${SPCNN_PAPER_RESULTS:-docs/paper-results}
budget=30
jobs=1
threads=1
samples=200
only=""
tables_only=0
figures=1
plan=0

die() { echo "paper.sh: $*" >&2; exit 2; }
while [ $# -gt 0 ]; do
    case $1 in
        --budget-minutes) budget=${2:?}; shift ;;
        --jobs) jobs=${2:?}; shift ;;
        --rows) only=${2:?}; shift ;;
        --samples) samples=${2:?}; shift ;;
        --threads) threads=${2:?}; shift ;;
        --tables-only) tables_only=1 ;;
        --no-figures) figures=0 ;;
        --plan) plan=1 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument '$1' (see --help)" ;;
    esac
    shift
done
[[ $budget =~ ^[0-9]+([.][0-9]+)?$ ]] && awk "BEGIN{exit !($budget > 0)}" ||
    die "--budget-minutes wants a positive number, not '$budget'"
[[ $jobs =~ ^[1-9][0-9]*$ ]] || die "--jobs wants a positive integer, not '$jobs'"
[[ $threads =~ ^[1-9][0-9]*$ ]] || die "--threads wants a positive integer, not '$threads'"
[[ $samples =~ ^[1-9][0-9]*$ ]] && [ "$samples" -ge 2 ] ||
    die "--samples wants an integer of at least 2, not '$samples'"

# The rows: name | the paper's tables it belongs to | patch size | coordinates | VAE |
# network (small: F 25, R 2; large: F 140, R 5) | batch | sizes scored.
# Upscaled sizes (56) only where the model has coordinates and windows of at most 12: a
# model without coordinates does not know where a window is, and larger windows cost as much
# per pixel as (window / 8)^2 of the 8x8 model's; nor for the large network, whose windows cost
# about 60 times the small one's (it is scored at 28 on 50 images).
rows_table="\
p8      1,2,3 8  1 1 small 128 28,56
base    3     28 0 0 small 128 28
p8-nc   1,2   8  0 1 small 128 28
p8-nv   2     8  1 0 small 128 28,56
p8-none 2     8  0 0 small 128 28
p4      1     4  1 1 small 128 28,56
p12     1     12 1 1 small 128 28,56
p16     1     16 1 1 small 128 28
p20     1     20 1 1 small 128 28
p28     1     28 1 1 small 128 28
p4-nc   1     4  0 1 small 128 28
p12-nc  1     12 0 1 small 128 28
p16-nc  1     16 0 1 small 128 28
p20-nc  1     20 0 1 small 128 28
p28-nc  1     28 0 1 small 128 28
large   3     8  1 1 large 32  28"

selected=()
while read -r name _; do
    if [ -z "$only" ] || [[ ,$only, == *,$name,* ]]; then
        selected+=("$name")
    fi
done <<< "$rows_table"
if [ -n "$only" ]; then
    IFS=, read -ra wanted <<< "$only"
    for w in "${wanted[@]}"; do
        grep -q "^$w " <<< "$rows_table" || die "no row '$w' (see --plan)"
    done
fi

row_field() { # row_field NAME FIELD(1-8)
    awk -v n="$1" -v f="$2" '$1 == n { print $f }' <<< "$rows_table"
}

spcnn=$build/examples/spcnn
data=data/mnist
classifier=models/lenet-mnist.spcls

if [ $plan = 1 ]; then
    echo "rows (budget $budget min each, $jobs at once, $threads thread(s) each):"
    printf '  %-8s %-7s %5s %6s %4s %-6s %5s %s\n' row tables patch coords vae net batch sizes
    while read -r name tables patch coords vae net batch sizes; do
        [[ " ${selected[*]} " == *" $name "* ]] || continue
        printf '  %-8s %-7s %5s %6s %4s %-6s %5s %s\n' "$name" "$tables" "$patch" "$coords" \
            "$vae" "$net" "$batch" "$sizes"
    done <<< "$rows_table"
    # Scoring: measured on this machine for the 8x8 small model, one thread: about 12 min for
    # 28 and 56 with 200 samples; larger windows cost more per pixel (the plan says so).
    n=${#selected[@]}
    echo "about $(awk "BEGIN{print int(($n * ($budget + 12)) / $jobs + 0.5)}") minutes" \
        "of wall time (training + about 12 min of scoring per row), less what is done"
    exit 0
fi

if [ $tables_only = 0 ]; then
    [ -x "$spcnn" ] || die "$spcnn is missing: build first (cmake -S . -B $build && cmake --build $build)"
    [ -f "$data/t10k-images-idx3-ubyte" ] || die "$data is missing: run scripts/get-data.sh"
    [ -f "$classifier" ] || die "$classifier is missing"
fi
mkdir -p "$dir"

spent_minutes() { # the last "minutes" of the row's training log, 0 before training
    local log=$1
    if [ -f "$log" ] && [ "$(wc -l < "$log")" -gt 1 ]; then
        tail -n 1 "$log" | cut -d, -f1
    else
        echo 0
    fi
}

train_row() { # train_row NAME: train (or resume) until the budget is spent
    local name=$1 d=$dir/$1
    local patch coords vae net batch
    patch=$(row_field "$name" 3) coords=$(row_field "$name" 4) vae=$(row_field "$name" 5)
    net=$(row_field "$name" 6) batch=$(row_field "$name" 7)
    mkdir -p "$d"
    local model=$d/model.spcnn spent left
    spent=$(spent_minutes "$model.log.csv")
    left=$(awk "BEGIN{l = $budget - $spent; print (l > 0.05) ? l : 0}")
    if [ "$left" = 0 ]; then
        echo "[$name] trained: $spent of $budget minutes"
        return 0
    fi
    local how=(--resume "$model")
    if [ ! -f "$model" ]; then
        how=(--out "$model" --preset "paper-$net" --patch_size "$patch" --use_coords "$coords"
            --use_latent "$vae" --batch_size "$batch")
    fi
    # The paper's protocol: z ~ N(0, I) for samples, so no prior is fitted (a run flag, given
    # again when a run resumes).
    how+=(--prior-components 0)
    echo "[$name] training $left of $budget minutes (log: $d/train.log)"
    # bash's time: wall, user and system seconds of this run, for the CPU share in the tables.
    local TIMEFORMAT="%R %U %S"
    { time "$spcnn" train --data "$data" "${how[@]}" --minutes "$left" --threads "$threads" \
        >> "$d/train.log" 2>&1 ; } 2>> "$d/cpu-seconds.txt" || {
        echo "[$name] spcnn train failed: see $d/train.log" >&2
        return 1
    }
}

score_row() { # score_row NAME: spcnn score --json unless the score is newer than the model
    local name=$1 d=$dir/$1
    local model=$d/model.spcnn
    [ -f "$d/score.json" ] && [ "$d/score.json" -nt "$model" ] && {
        echo "[$name] scored"
        return 0
    }
    local patch sizes n=$samples
    patch=$(row_field "$name" 3) sizes=$(row_field "$name" 8)
    [ "$patch" -ge 16 ] && [ "$n" -gt 100 ] && n=100
    [ "$(row_field "$name" 6)" = large ] && [ "$n" -gt 50 ] && n=50
    echo "[$name] scoring at $sizes: $n samples, reconstructions and bits/dim images"
    "$spcnn" score --model "$model" --data "$data" --classifier "$classifier" --split test \
        --sizes "$sizes" --samples "$n" --recon "$n" --bpd-images "$n" --prior standard \
        --threads "$threads" --json > "$d/score.json.part" 2> "$d/score.log" || {
        echo "[$name] spcnn score failed: see $d/score.log" >&2
        return 1
    }
    mv "$d/score.json.part" "$d/score.json"
}

keep_row() { # keep_row NAME: copy the scored row's small result files into $results/NAME
    local d=$dir/$1 k=$results/$1
    mkdir -p "$k"
    cp "$d/score.json" "$d/model.spcnn.log.csv" "$d/cpu-seconds.txt" "$k/"
}

run_row() {
    local name=$1
    if [ ! -f "$dir/$name/model.spcnn" ] && [ -f "$results/$name/score.json" ]; then
        echo "[$name] done: results kept in $results/$name (delete that folder to train it again)"
        return 0
    fi
    train_row "$name" && score_row "$name" && keep_row "$name"
}

if [ $tables_only = 0 ]; then
    failed=0
    running=0
    for name in "${selected[@]}"; do
        if [ "$running" -ge "$jobs" ]; then
            wait -n || failed=1
            running=$((running - 1))
        fi
        run_row "$name" &
        running=$((running + 1))
    done
    while [ "$running" -gt 0 ]; do
        wait -n || failed=1
        running=$((running - 1))
    done
    [ $failed = 0 ] || echo "paper.sh: some rows failed (see above); the tables show the rest" >&2

    if [ $figures = 1 ] && [ -f "$dir/p8/score.json" ] && [ -f "$dir/p8/model.spcnn" ]; then
        p8=$dir/p8/model.spcnn
        mkdir -p "$images"
        fig() { # fig FILE COMMAND...: make FILE unless it is newer than the p8 model
            local file=$1
            shift
            [ -f "$file" ] && [ "$file" -nt "$p8" ] && return 0
            echo "[figures] $file"
            "$@" > "$dir/figures.log" 2>&1 || { echo "paper.sh: failed: $* (see $dir/figures.log)" >&2; return 1; }
        }
        fig "$images/samples-28.png" "$spcnn" sample --model "$p8" --size 28 --count 64 \
            --columns 8 --seed 1 --prior standard --threads "$threads" --out "$images/samples-28.png"
        fig "$images/samples-56.png" "$spcnn" sample --model "$p8" --size 56 --count 16 \
            --columns 4 --seed 1 --prior standard --threads "$threads" --out "$images/samples-56.png"
        fig "$images/reconstruct.png" "$spcnn" reconstruct --model "$p8" --data "$data" \
            --count 4 --sizes 28,56,224 --seed 1 --threads "$threads" --out "$images/reconstruct.png"
        # The first digit of the test file, upscaled 20 and 50 times.
        fig "$images/digit.png" env PYTHONPATH=bindings/python \
            SPCNN_LIBRARY="$(ls "$build"/lib/libspatialpixelcnn.so)" /usr/bin/python3 -c '
import sys, spatialpixelcnn as s
d = s.read_idx(sys.argv[1])
s.write_png(sys.argv[2], d[0])' "$data/t10k-images-idx3-ubyte" "$images/digit.png"
        fig "$images/upscale-560.png" "$spcnn" upscale --model "$p8" --in "$images/digit.png" \
            --size 560 --seed 1 --threads "$threads" --out "$images/upscale-560.png"
        fig "$images/upscale-1400.png" "$spcnn" upscale --model "$p8" --in "$images/digit.png" \
            --size 1400 --seed 1 --threads "$threads" --out "$images/upscale-1400.png"
    fi
fi

/usr/bin/python3 scripts/lib/paper_tables.py --dir "$dir" --results "$results" \
    --budget "$budget" --images "$images" --out "$doc" <<< "$rows_table"
echo "paper.sh: wrote $doc"
