#!/bin/sh
# scripts/paper.sh without training: its argument checks, --plan, and the tables it writes
# (--tables-only) from rows made up here, one better than the other, so that every cell and
# conclusion can be checked. usage: paper_tables_test.sh WORKDIR
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
work=$1/paper_tables_test
rm -rf "$work"
mkdir -p "$work"
paper=$root/scripts/paper.sh
fail() { echo "FAIL: $*" >&2; exit 1; }

# Arguments: bad values and unknown rows are refused with status 2 and a message.
for bad in "--budget-minutes 0" "--budget-minutes x" "--jobs 0" "--samples 1" "--rows p8,nope" \
    "--frobnicate"; do
    # shellcheck disable=SC2086
    if "$paper" $bad --plan > "$work/out" 2>&1; then
        fail "paper.sh $bad was accepted"
    else
        [ $? -eq 2 ] || fail "paper.sh $bad: status other than 2"
    fi
    grep -q "^paper.sh: " "$work/out" || fail "paper.sh $bad: no message"
done

"$paper" --plan --budget-minutes 10 --rows p8,base > "$work/plan"
grep -q "^  p8 " "$work/plan" || fail "--plan does not list p8"
grep -q "^  base " "$work/plan" || fail "--plan does not list base"
! grep -q "^  p4 " "$work/plan" || fail "--plan lists a row not asked for"
grep -q "about 44 minutes" "$work/plan" || fail "--plan estimate: $(tail -1 "$work/plan")"

# Two rows as paper.sh leaves them: a training log, the training runs' times, a score.
row() { # row NAME MINUTES STEP VALID CONF28 RECON28 BPD CONF56
    d=$work/runs/$1
    mkdir -p "$d"
    printf 'minutes,step,epoch,train_bpd,valid_bpd_patches,valid_bpd_image,kl\n' \
        > "$d/model.spcnn.log.csv"
    printf '%s,%s,1.0,2.0,%s,1.1,25.0\n' "$2" "$3" "$4" >> "$d/model.spcnn.log.csv"
    printf '600.0 590.0 4.0\n' > "$d/cpu-seconds.txt"
    cat > "$d/score.json" << EOF
{"model": "m", "data": "d", "split": "test", "classifier": "c", "seed": 1,
 "prior_components": 0, "seconds": 1.0, "rows": [
  {"name": "test 28x28", "samples": 4, "reconstructions": 4, "bpd_images": 0,
   "confidence_mean": 99.3, "confidence_std": 4.8, "top_class_share": 0.2,
   "histogram": [1, 1, 1, 1, 0, 0, 0, 0, 0, 0], "recon_accuracy": 99.2,
   "msssim_mean": 0.19, "msssim_std": 0.22, "bpd_patches": null, "bpd_image": null,
   "seconds": 0.1},
  {"name": "28x28", "samples": 4, "reconstructions": 4, "bpd_images": 4,
   "confidence_mean": $5, "confidence_std": 10.0, "top_class_share": 0.25,
   "histogram": [1, 1, 1, 1, 0, 0, 0, 0, 0, 0], "recon_accuracy": $6,
   "msssim_mean": 0.2, "msssim_std": 0.2, "bpd_patches": $7, "bpd_image": 1.0,
   "seconds": 1.0},
  {"name": "56x56", "samples": 4, "reconstructions": 4, "bpd_images": 0,
   "confidence_mean": $8, "confidence_std": 12.0, "top_class_share": 0.25,
   "histogram": [1, 1, 1, 1, 0, 0, 0, 0, 0, 0], "recon_accuracy": 90.0,
   "msssim_mean": 0.2, "msssim_std": 0.2, "bpd_patches": null, "bpd_image": null,
   "seconds": 1.0}
]}
EOF
}
row p8 10.02 3000 1.8000 93.5 95.0 1.7500 90.0
row p8-nc 6.5 2000 1.9000 88.0 91.0 1.8500 80.0

SPCNN_PAPER_DIR=$work/runs SPCNN_PAPER_DOC=$work/tables.md SPCNN_PAPER_IMAGES=$work/images \
    SPCNN_PAPER_RESULTS=$work/kept "$paper" --tables-only --budget-minutes 10 > "$work/out"
t=$work/tables.md
grep -q "1 of 16 rows are trained and scored" "$t" || fail "count of finished rows"
grep -q "10 minutes of wall time" "$t" || fail "budget"
grep -q "^| 8×8, coordinates | 3000 | 10 (99 %) | 1.7500 | 1.0000 | 93.5 ± 10.0 | 95.0 | 0.200 | 90.0 ± 12.0 | 90.0 |" "$t" ||
    fail "the p8 row: $(grep '^| 8×8, coordinates |' "$t")"
grep -q "^| 8×8, no coordinates | 2000 | 6 (99 %) (unfinished) |" "$t" || fail "unfinished row"
grep -q "^| \*paper: 8×8, coordinates\* | | | \*≤ 1.67\* |" "$t" || fail "paper's numbers"
grep -q "^| 4×4, coordinates | not trained yet |" "$t" || fail "untrained row"
grep -q "Coordinates help (8×8) (bits/dim (patches)): \*\*agrees\*\*, p8 1.75 against p8-nc 1.85" "$t" ||
    fail "conclusion on coordinates: $(grep 'Coordinates help (8' "$t" | head -1)"
grep -q "The VAE helps (8×8) (bits/dim (patches)): not measured yet" "$t" || fail "unmeasured conclusion"
grep -q "Coordinates help with 4×4 windows (Table 1) (confidence at 28): not measured yet (p4 against p4-nc)" "$t" ||
    fail "Table 1's conclusion per window size"
grep -q "confidence 99.3 ± 4.8, classifier accuracy 99.2 %" "$t" || fail "real digits"
grep -q "Not made yet" "$t" || fail "figures"

# A row whose run directory is gone is read from the kept results.
mkdir -p "$work/kept"
mv "$work/runs/p8-nc" "$work/kept/p8-nc"
SPCNN_PAPER_DIR=$work/runs SPCNN_PAPER_DOC=$work/tables.md SPCNN_PAPER_IMAGES=$work/images \
    SPCNN_PAPER_RESULTS=$work/kept "$paper" --tables-only --budget-minutes 10 > "$work/out"
grep -q "^| 8×8, no coordinates | 2000 | 6 (99 %) (unfinished) |" "$t" ||
    fail "a row kept in the results folder: $(grep '^| 8×8, no coordinates |' "$t")"
grep -q "Coordinates help (8×8) (bits/dim (patches)): \*\*agrees\*\*" "$t" ||
    fail "conclusion from a kept row"

# A worse p8 turns the conclusion around.
row p8 10.02 3000 1.8000 93.5 95.0 1.9500 90.0
SPCNN_PAPER_DIR=$work/runs SPCNN_PAPER_DOC=$work/tables.md SPCNN_PAPER_IMAGES=$work/images \
    SPCNN_PAPER_RESULTS=$work/kept "$paper" --tables-only --budget-minutes 10 > "$work/out"
grep -q "Coordinates help (8×8) (bits/dim (patches)): \*\*disagrees\*\*" "$t" ||
    fail "a disagreement is not reported"
# A row whose first run went unrecorded (stopped by hand): the share is that of the runs recorded.
printf '300.0 290.0 4.0\n' > "$work/runs/p8/cpu-seconds.txt"
SPCNN_PAPER_DIR=$work/runs SPCNN_PAPER_DOC=$work/tables.md SPCNN_PAPER_IMAGES=$work/images \
    SPCNN_PAPER_RESULTS=$work/kept "$paper" --tables-only --budget-minutes 10 > "$work/out"
grep -q "^| 8×8, coordinates | 3000 | 10 (98 % of the last 5) |" "$t" ||
    fail "a partly recorded row: $(grep '^| 8×8, coordinates |' "$t")"
# Rows that had unequal shares of their core: the conclusion says so.
printf '600.0 470.0 4.0\n' > "$work/runs/p8/cpu-seconds.txt"
SPCNN_PAPER_DIR=$work/runs SPCNN_PAPER_DOC=$work/tables.md SPCNN_PAPER_IMAGES=$work/images \
    SPCNN_PAPER_RESULTS=$work/kept "$paper" --tables-only --budget-minutes 10 > "$work/out"
grep -q "Coordinates help (8×8) (bits/dim (patches)): \*\*disagrees\*\*, p8 1.95 against p8-nc 1.85. Unequal budgets: p8 had 79 % of its core, p8-nc 99 % (3000 against 2000 steps)." "$t" ||
    fail "unequal budgets: $(grep 'Coordinates help (8×8) (bits' "$t")"
# A hand-written reading kept with the results goes into the tables.
printf 'Our reading, of these made-up rows.\n' > "$work/kept/READING.md"
SPCNN_PAPER_DIR=$work/runs SPCNN_PAPER_DOC=$work/tables.md SPCNN_PAPER_IMAGES=$work/images \
    SPCNN_PAPER_RESULTS=$work/kept "$paper" --tables-only --budget-minutes 10 > "$work/out"
grep -q "^## Reading the tables (written by hand)" "$t" && grep -q "^Our reading, of these made-up rows." "$t" ||
    fail "the hand-written reading"
echo "paper_tables_test: all checks passed"
