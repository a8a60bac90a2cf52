#!/bin/sh
# The spcnn command-line tool end to end on a tiny data set: usage and exit codes, training a
# tiny model (IDX and PNG folders: mixed sizes, the split by path, bad files, bounded memory
# under ulimit -v), its log, info, eval, resuming, determinism, SIGTERM,
# generation, likelihood maps, the classifier, score and output checks.
# Usage: cli_test.sh <path to spcnn> [temporary folder]
set -u
export LC_ALL=C
spcnn=$1
[ -x "$spcnn" ] || { echo "FAIL: $spcnn is not an executable"; exit 1; }
tmp=$(mktemp -d "${2:-${TMPDIR:-/tmp}}/spcnn-cli.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
python=/usr/bin/python3
# shellcheck source=tests/cli_expect.sh
. "$(dirname "$0")/cli_expect.sh"

# 1. Usage.
expect 0 '^usage: spcnn COMMAND' "$spcnn" --help
expect 0 '^usage: spcnn COMMAND' "$spcnn" help
expect 2 '^usage: spcnn COMMAND' "$spcnn"
expect 2 "unknown command 'bogus'" "$spcnn" bogus
expect 0 '--resume MODEL' "$spcnn" train --help
expect 0 '--nr-filters N' "$spcnn" help train
grep -q -- '--schedule raster|wavefront' "$tmp/out" && ! grep -q -- '--schedule N' "$tmp/out" &&
    pass || fail "train --help does not list --schedule raster|wavefront"
grep -q ' $' "$tmp/out" && fail "train --help has blanks at the end of a line" || pass
expect 2 "^spcnn train: --schedule: 'zigzag' is not raster or wavefront" "$spcnn" train \
    --data "$tmp" --out "$tmp/m" --steps 1 --schedule zigzag
expect 0 'usage: spcnn eval' "$spcnn" eval --help
expect 0 'usage: spcnn info' "$spcnn" info --help
expect 0 "^spcnn [0-9]+\.[0-9]+\.[0-9]+" "$spcnn" --version
expect 2 'usage: spcnn info' "$spcnn" info
expect 2 '--data and --out are required' "$spcnn" train --steps 3
expect 2 'say how long to train' "$spcnn" train --data "$tmp" --out "$tmp/m"
expect 2 "unknown argument '--bogus'" "$spcnn" train --bogus 1 --data "$tmp" --out "$tmp/m"
expect 2 'nr_filters = 0 is out of range' "$spcnn" train --nr-filters 0
expect 2 'dropout = 2 is out of range' "$spcnn" train --dropout=2
expect 2 "--steps: 'x' is not an integer" "$spcnn" train --steps x
expect 2 '--batch_size needs a value' "$spcnn" train --batch_size
expect 2 '--model and --data are required' "$spcnn" eval --images 2
expect 1 'not a folder' "$spcnn" train --data "$tmp/none" --out "$tmp/m" --steps 1
expect 1 'm.spcnn' "$spcnn" info "$tmp/m.spcnn"

# 2. A tiny data set: 32 training and 8 test images of 12 x 12 (IDX), 10 PNG images of 12 x 12,
#    a folder (with a subfolder) of PNG images of several sizes and one colour PNG, and folders
#    with a file that is not a PNG and with an image smaller than the window.
mkdir -p "$tmp/idx" "$tmp/png" "$tmp/mixed/sub" "$tmp/bad" "$tmp/small"
"$python" - "$tmp" <<'PY' || { echo "FAIL: could not write the data set"; exit 1; }
import random, struct, sys, zlib
tmp = sys.argv[1]
rng = random.Random(7)
def images(n, h, w):
    # smooth blobs rather than noise, so a model has something to learn
    out = bytearray()
    for _ in range(n):
        cy, cx = rng.uniform(3, h - 3), rng.uniform(3, w - 3)
        for r in range(h):
            for c in range(w):
                d = ((r - cy) ** 2 + (c - cx) ** 2) ** 0.5
                out.append(max(0, min(255, int(255 - 60 * d + rng.randint(-20, 20)))))
    return out
def idx(path, n, h, w):
    with open(path, "wb") as f:
        f.write(struct.pack(">IIII", 0x803, n, h, w) + images(n, h, w))
def png(path, h, w, colour=False):
    raw = images(1, h, w)
    if colour:  # RGB: the gray value in each channel
        raw = bytes(v for v in raw for _ in range(3))
    k = 3 if colour else 1
    rows = b"".join(b"\0" + bytes(raw[r * w * k:(r + 1) * w * k]) for r in range(h))
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n"
                + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2 if colour else 0, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
idx(tmp + "/idx/train-images-idx3-ubyte", 32, 12, 12)
idx(tmp + "/idx/t10k-images-idx3-ubyte", 8, 12, 12)
for i in range(10):
    png("%s/png/img%02d.png" % (tmp, i), 12, 12)
png(tmp + "/mixed/a.png", 12, 12)
png(tmp + "/mixed/b.png", 16, 12)
sizes = [(12, 20), (20, 14), (9, 9), (16, 16)]
for i in range(37):  # 40 images: the test set (2) has two sizes
    png("%s/mixed/sub/c%02d.png" % (tmp, i), *sizes[i % 4])
png(tmp + "/mixed/sub/colour.png", 14, 10, colour=True)
for d in ("bad", "small"):
    for i in range(9):
        png("%s/%s/g%d.png" % (tmp, d, i), 12, 12)
png(tmp + "/small/tiny.png", 5, 5)
png(tmp + "/bad/tiny.png", 5, 5)
with open(tmp + "/bad/notpng.png", "w") as f:
    f.write("not a picture\n")
PY

tiny="--patch-size 8 --image-size 12 --nr-filters 4 --nr-resnet 1 --nr-mix 2 --latent-size 3
      --batch-size 4 --eval-images 2"
m=$tmp/m.spcnn
# shellcheck disable=SC2086
expect 0 'trained 3 steps \(now at step 3\)' "$spcnn" train --data "$tmp/idx" --out "$m" \
    --steps 3 $tiny
grep -q 'parameters: [1-9]' "$tmp/out" && pass || fail "train did not print the parameter count"
grep -q 'nr_filters=4' "$tmp/out" && pass || fail "train did not print the configuration"
grep -q ' schedule=wavefront' "$tmp/out" && pass || fail "train did not print the schedule by name"
# 32 training images: the last 3 (a tenth) are the validation set, 29 are trained on.
grep -q '29 training images of 12 x 12 (7 steps per epoch), 3 more held out for validation' \
    "$tmp/out" && pass || fail "train did not hold out the validation images: $(grep data: "$tmp/out")"
grep -q 'valid bits/dim [0-9.]* (patches)' "$tmp/out" && pass ||
    fail "train did not evaluate on the validation images"
# shellcheck disable=SC2086
expect 2 '--validation 0 leaves nothing to evaluate' "$spcnn" train --data "$tmp/idx" \
    --out "$tmp/x" --steps 1 $tiny --validation 0
# shellcheck disable=SC2086
expect 0 '32 training images of 12 x 12 \(8 steps per epoch\), 0 more held out' "$spcnn" train \
    --data "$tmp/idx" --out "$tmp/all.spcnn" --steps 1 $tiny --validation 0 --no-eval
[ -s "$m" ] && pass || fail "no model file $m"
if [ -f "$m.log.csv" ]; then
    head -n 1 "$m.log.csv" | grep -q '^minutes,step,epoch,train_bpd,valid_bpd_patches,valid_bpd_image,kl$' &&
        pass || fail "bad CSV header: $(head -n 1 "$m.log.csv")"
    tail -n 1 "$m.log.csv" | grep -Eq '^[0-9.]+,3,0\.4286,[0-9.]+,[0-9.]+,[0-9.]+,[0-9.]+$' &&
        pass || fail "bad CSV line: $(tail -n 1 "$m.log.csv")"
else
    fail "no training log $m.log.csv"
fi
# --patience counts the evaluations of the log the run resumes from: a best figure no model can
# beat (step 2), then the log's own step-3 line (one evaluation without improvement), then the
# end of the first epoch (step 7, a second): patience 2 stops there, with --patience the only
# limit.
{ head -n 1 "$m.log.csv"; echo "0.100,2,0.2857,1.0,0.00001,0.00001,1.0"; tail -n +2 "$m.log.csv"; } \
    > "$tmp/p.spcnn.log.csv"
cp "$m" "$tmp/p.spcnn"
expect 0 'stopping: 2 evaluations since the best validation bits/dim, 0\.0000 at step 2 \(--patience 2\)' \
    "$spcnn" train --data "$tmp/idx" --resume "$tmp/p.spcnn" --patience 2 --prior-components 0
grep -q 'trained 4 steps (now at step 7)' "$tmp/out" && pass ||
    fail "--patience 2 did not stop at step 7: $(grep trained "$tmp/out")"
[ "$(tail -n 1 "$tmp/p.spcnn.log.csv" | cut -d, -f2)" = 7 ] && pass ||
    fail "--patience: the log does not end at step 7"
# Two-stage training: 2 VAE steps, then the PixelCNN; the key is stored in the model.
# shellcheck disable=SC2086
expect 0 'vae_pretrain_steps=2' "$spcnn" train --data "$tmp/idx" --out "$tmp/pre.spcnn" \
    --steps 4 $tiny --pretrain-vae 2 --prior-components 0
grep -q 'trained 4 steps' "$tmp/out" && pass || fail "train --pretrain-vae: $(tail -n 1 "$tmp/out")"
expect 0 'vae_pretrain_steps +2$' "$spcnn" info "$tmp/pre.spcnn"
expect 2 '--patience counts evaluations: it cannot be used with --no-eval' "$spcnn" train \
    --data "$tmp/idx" --out "$tmp/x" --patience 3 --no-eval
expect 2 "--patience: '0' is not an integer in \\[1, " "$spcnn" train --data "$tmp/idx" \
    --out "$tmp/x" --patience 0

expect 0 'step: +3$' "$spcnn" info "$m"
for want in 'nr_filters +4$' 'patch_size +8$' 'images seen: +12$' 'parameters: +[1-9][0-9]*$' \
            'file size: +[1-9]' 'schedule +wavefront$'; do
    grep -Eq "$want" "$tmp/out" && pass || fail "spcnn info: no /$want/"
done
expect 0 'bits/dim \(patches\): [0-9]+\.[0-9]+' "$spcnn" eval --model "$m" --data "$tmp/idx" \
    --images 2
for want in 'bits/dim \(image\): +[0-9]+\.[0-9]+' 'KL \(nats/image\): +[0-9]' \
            'test images: +2 of 8'; do
    grep -Eq "$want" "$tmp/out" && pass || fail "spcnn eval: no /$want/"
done
expect 0 'test images: +8 of 8' "$spcnn" eval --model "$m" --data "$tmp/idx"
expect 0 'validation images: +2 of 3' "$spcnn" eval --model "$m" --data "$tmp/idx" \
    --split validation --limit 2
expect 2 "'train' is neither test nor validation" "$spcnn" eval --model "$m" --data "$tmp/idx" \
    --split train

# The latent prior: train fits one at its end (at most one component per training image),
# fit-prior refits or removes it, and generation can still draw from N(0, I).
expect 0 'latent prior: a mixture of 29 Gaussians' "$spcnn" info "$m"
grep -q 'training state: saved' "$tmp/out" && pass || fail "info: the training state is not saved"
expect 0 'prior: 2 Gaussians fitted to the codes of 29 training images' "$spcnn" fit-prior \
    --model "$m" --data "$tmp/idx" --components 2 --out "$tmp/p2.spcnn"
expect 0 'latent prior: a mixture of 2 Gaussians' "$spcnn" info "$tmp/p2.spcnn"
expect 1 '29 images for 30 components' "$spcnn" fit-prior --model "$m" --data "$tmp/idx" \
    --components 30 --out "$tmp/x"
expect 0 'prior: N\(0, I\)' "$spcnn" fit-prior --model "$m" --components 0 --out "$tmp/p0.spcnn"
expect 0 'latent prior: N\(0, I\)' "$spcnn" info "$tmp/p0.spcnn"
expect 2 "--prior: 'gauss' is not model or standard" "$spcnn" sample --model "$m" --size 12 \
    --out "$tmp/x.png" --prior gauss
expect 0 'generated 4 images' "$spcnn" sample --model "$tmp/p2.spcnn" --size 12 --count 4 \
    --out "$tmp/pstd.png" --prior standard
expect 0 'generated 4 images' "$spcnn" sample --model "$tmp/p0.spcnn" --size 12 --count 4 \
    --out "$tmp/p0.png"
cmp -s "$tmp/pstd.png" "$tmp/p0.png" && pass ||
    fail "--prior standard differs from a model whose prior was removed"
expect 0 'generated 4 images' "$spcnn" sample --model "$tmp/p2.spcnn" --size 12 --count 4 \
    --out "$tmp/p2.png"
cmp -s "$tmp/p2.png" "$tmp/p0.png" && fail "the fitted prior changed no sample" || pass
expect 2 "unknown preset 'paper-huge'" "$spcnn" train --data "$tmp/idx" --out "$tmp/x" \
    --steps 1 --preset paper-huge
expect 2 '--preset cannot be used when resuming' "$spcnn" train --data "$tmp/idx" \
    --resume "$m" --steps 5 --preset paper-small

# Scale-aware training: --train-sizes A-B sets the scale range from the images' height (12).
# shellcheck disable=SC2086
expect 0 'train_scale_min=1.5 train_scale_max=2' "$spcnn" train --data "$tmp/idx" \
    --out "$tmp/ts.spcnn" --steps 2 $tiny --train-sizes 18-24 --no-eval --prior-components 0
expect 0 'train_scale_max +2$' "$spcnn" info "$tmp/ts.spcnn"
# shellcheck disable=SC2086
expect 2 "the sizes must be from the images' height 12" "$spcnn" train --data "$tmp/idx" \
    --out "$tmp/x" --steps 1 $tiny --train-sizes 8-24
expect 2 "'24-12' is not a range A-B" "$spcnn" train --data "$tmp/idx" --out "$tmp/x" \
    --steps 1 --train-sizes 24-12
# Found by fuzzing (tests/fuzz/fuzz_cli_sizes): "nan" passed every comparison and was then
# taken for "not given", so the run trained without scale-aware training and said nothing.
expect 2 "'nan' is not a range A-B" "$spcnn" train --data "$tmp/idx" --out "$tmp/x" \
    --steps 1 --train-sizes nan
expect 2 "'28-1e400' is not a range A-B" "$spcnn" train --data "$tmp/idx" --out "$tmp/x" \
    --steps 1 --train-sizes 28-1e400

# 3. Resuming continues the step count (and refuses other hyper-parameters).
expect 2 'nr_filters cannot be changed when resuming' "$spcnn" train --data "$tmp/idx" \
    --resume "$m" --steps 5 --nr-filters 8
# ... except the scale-aware settings: fine-tuning a scale-aware model at other sizes.
expect 0 'now at step 4' "$spcnn" train --data "$tmp/idx" --resume "$tmp/ts.spcnn" \
    --out "$tmp/ts2.spcnn" --steps 4 --train-sizes 12-36 --train-native-share 0.25 --no-eval \
    --prior-components 0
expect 0 'train_scale_max +3$' "$spcnn" info "$tmp/ts2.spcnn"
expect 0 'train_scale_min +1$' "$spcnn" info "$tmp/ts2.spcnn"
expect 0 'train_native_share +0.25$' "$spcnn" info "$tmp/ts2.spcnn"
# ... and the KL term's weight, saved with the model (written only when it is not 1).
expect 0 'now at step 5' "$spcnn" train --data "$tmp/idx" --resume "$tmp/ts2.spcnn" \
    --out "$tmp/kl.spcnn" --steps 5 --kl-weight 0.25 --no-eval --prior-components 0
expect 0 'kl_weight +0.25$' "$spcnn" info "$tmp/kl.spcnn"
# ... and a model without the latent code, new or resumed, never fits a prior it cannot
# have (the default --prior-components made both fail at the end, after saving).
expect 0 'now at step 1' "$spcnn" train --data "$tmp/idx" --out "$tmp/nv.spcnn" --steps 1 \
    $tiny --use_latent 0 --no-eval
expect 0 'now at step 2' "$spcnn" train --data "$tmp/idx" --resume "$tmp/nv.spcnn" --steps 2 \
    --no-eval
expect 2 'kl_weight = 2 is out of range' "$spcnn" train --data "$tmp/idx" \
    --resume "$tmp/ts2.spcnn" --out "$tmp/x" --steps 5 --kl-weight 2 --no-eval
# ... and the training arithmetic, saved only when bf16; refused, saying why, where oneDNN
# finds no AVX-512 BF16 (its own detection decides, not /proc/cpuinfo).
if "$spcnn" train --data "$tmp/idx" --resume "$tmp/kl.spcnn" --out "$tmp/bf.spcnn" --steps 6 \
    --train-precision bf16 --no-eval --prior-components 0 > "$tmp/out" 2>&1; then
    grep -q 'now at step 6' "$tmp/out" && pass || fail "--train-precision bf16: $(cat "$tmp/out")"
    expect 0 'train_precision +bf16$' "$spcnn" info "$tmp/bf.spcnn"
else
    grep -q 'train_precision bf16 needs a CPU with AVX-512 BF16' "$tmp/out" && pass ||
        fail "--train-precision bf16 failed: $(cat "$tmp/out")"
fi
expect 2 "'bf8' is not fp32 or bf16" "$spcnn" train --data "$tmp/idx" --resume "$tmp/kl.spcnn" \
    --out "$tmp/x" --steps 6 --train-precision bf8 --no-eval
# shellcheck disable=SC2086
expect 0 'train_native_share 0.5 changes nothing without scale-aware training' "$spcnn" train \
    --data "$tmp/idx" --out "$tmp/x.spcnn" --steps 1 $tiny --train-native-share 0.5 --no-eval \
    --prior-components 0
expect 2 'train_scale_min 2 would be above train_scale_max 1' "$spcnn" train \
    --data "$tmp/idx" --resume "$tmp/ts.spcnn" --out "$tmp/x" --steps 4 --train-scale-min 2 \
    --train-scale-max 1 --no-eval
expect 0 'now at step 5' "$spcnn" train --data "$tmp/idx" --resume "$m" --steps 5 \
    --eval-images 2 --threads 1
expect 0 'step: +5$' "$spcnn" info "$m"
lines=$(wc -l < "$m.log.csv")
[ "$lines" -eq 3 ] && pass || fail "the log has $lines lines after resuming, expected 3"
# shellcheck disable=SC2086
expect 0 'now at step 5' "$spcnn" train --data "$tmp/idx" --out "$tmp/straight.spcnn" \
    --steps 5 $tiny
cmp -s "$m" "$tmp/straight.spcnn" && pass ||
    fail "3 steps + 2 resumed steps differ from 5 steps in one run (same seed and threads)"
# Resuming into another file copies the log, so the new one holds the whole curve.
expect 0 'now at step 6' "$spcnn" train --data "$tmp/idx" --resume "$m" --out "$tmp/m6.spcnn" \
    --steps 6 --eval-images 2
lines=$(cat "$tmp/m6.spcnn.log.csv" 2>/dev/null | wc -l)
[ "$lines" -eq 4 ] && tail -n 1 "$tmp/m6.spcnn.log.csv" | grep -q '^[0-9.]*,6,' && pass ||
    fail "resuming into another file: its log has $lines lines, expected 4 ending at step 6"

# 4. PNG folders: split by the key of each path (docs/cli.md, "Data"), streamed, any sizes.
# shellcheck disable=SC2086
expect 0 'PNG folder .*: 8 training images of 12 x 12 to 12 x 12 .*streamed \(2 steps per epoch\), 1 more held out' \
    "$spcnn" train --data "$tmp/png" --out "$tmp/p.spcnn" --epochs 1 $tiny
expect 1 'fewer than one batch' "$spcnn" train --data "$tmp/png" --out "$tmp/x" --steps 1
# The documented key, FNV-1a 64 of the relative path then splitmix64's finaliser: the test set
# is the files whose key is divisible by 10, the validation set the training files of
# smallest key (a tenth of them by default).
split_of() { # the test and validation counts of a folder, as the documentation defines them
    "$python" - "$1" <<'PY'
import os, sys
M = (1 << 64) - 1
def key(rel):
    h = 0xcbf29ce484222325
    for b in rel.encode():
        h = ((h ^ b) * 0x100000001b3) & M
    h = ((h ^ (h >> 30)) * 0xBF58476D1CE4E5B9) & M
    h = ((h ^ (h >> 27)) * 0x94D049BB133111EB) & M
    return h ^ (h >> 31)
root = sys.argv[1]
rels = [os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root)
        for f in fs if f.endswith(".png")]
test = [r for r in rels if key(r) % 10 == 0]
train = len(rels) - len(test)
print(len(test), max(1, train // 10) if train >= 2 else 0)
PY
}
set -- $(split_of "$tmp/mixed")
n_test=$1 n_valid=$2
[ "$n_test" -ge 2 ] && pass || fail "the mixed test folder has $n_test test images; want 2 or more"
# shellcheck disable=SC2086
expect 0 'PNG folder .*: [0-9]+ training images of 9 x 9 to 20 x 20 \(heights, widths\), [0-9]+ windows of 8 x 8, streamed' \
    "$spcnn" train --data "$tmp/mixed" --out "$tmp/mx.spcnn" --steps 4 $tiny
grep -q 'warning: 1 of 40 images are colour (or palette) PNGs: they are read as gray, Y = 0.2126 R' \
    "$tmp/out" && pass || fail "no warning about the colour PNG"
grep -q "$n_valid more held out for validation" "$tmp/out" && pass ||
    fail "validation: expected $n_valid images held out"
grep -q 'latent prior is not fitted for a streamed PNG folder' "$tmp/out" && pass ||
    fail "no word about the prior"
expect 0 "test images: +$n_test of $n_test \\([0-9]+ x [0-9]+ to [0-9]+ x [0-9]+, PNG folder" \
    "$spcnn" eval --model "$tmp/mx.spcnn" --data "$tmp/mixed"
grep -q 'bits/dim (patches): [0-9.]* (mean over images)' "$tmp/out" &&
    grep -q 'bits/dim (image): *[0-9.]* (pooled over all pixels)' "$tmp/out" && pass ||
    fail "eval on mixed sizes: no per-image mean and pooled figures"
expect 0 "validation images: +$n_valid of $n_valid" "$spcnn" eval --model "$tmp/mx.spcnn" \
    --data "$tmp/mixed" --split validation
# The draws of a streamed folder follow from (seed, batch position): 2 + 2 resumed steps give
# the bytes of 4 steps in one run.
# shellcheck disable=SC2086
"$spcnn" train --data "$tmp/mixed" --out "$tmp/mx2.spcnn" --steps 2 --no-eval $tiny \
    > /dev/null 2>&1 &&
    "$spcnn" train --data "$tmp/mixed" --resume "$tmp/mx2.spcnn" --steps 4 --no-eval \
    --prior-components 0 > /dev/null 2>&1 &&
    "$spcnn" train --data "$tmp/mixed" --out "$tmp/mx4.spcnn" --steps 4 --no-eval $tiny \
    > /dev/null 2>&1 && cmp -s "$tmp/mx2.spcnn" "$tmp/mx4.spcnn" && pass ||
    fail "streamed folder: 2 + 2 resumed steps differ from 4 steps in one run"
# Files that are not usable PNGs, images smaller than the window: named, or skipped and counted.
# shellcheck disable=SC2086
expect 1 'bad/notpng.png: not a PNG file \(no PNG signature\) \(--skip-bad skips such files\)' \
    "$spcnn" train --data "$tmp/bad" --out "$tmp/x" --steps 1 $tiny
# shellcheck disable=SC2086
expect 1 'small/tiny.png is 5 x 5, smaller than the 8 x 8 window \(--skip-bad' \
    "$spcnn" train --data "$tmp/small" --out "$tmp/x" --steps 1 $tiny
# shellcheck disable=SC2086
expect 0 'trained 1 steps' "$spcnn" train --data "$tmp/bad" --out "$tmp/x" --steps 1 --skip-bad \
    --no-eval $tiny
grep -q 'warning: skipped 1 file that is not a usable PNG image (the first: .*notpng.png: not a PNG' \
    "$tmp/out" && grep -q 'warning: skipped 1 image smaller than the 8 x 8 window' "$tmp/out" &&
    pass || fail "--skip-bad: no count of the files skipped"
expect 2 '--train-sizes is for data of one size' "$spcnn" train --data "$tmp/mixed" \
    --out "$tmp/x" --steps 1 --train-sizes 12-24 --batch-size 4
expect 1 'this command needs images of one size \(spcnn train and spcnn eval take mixed sizes\)' \
    "$spcnn" reconstruct --model "$tmp/mx.spcnn" --data "$tmp/mixed" --out "$tmp/x.png"
# A folder of one size still decodes into memory for them: img00.png is its one test image.
expect 0 'reconstructed 1 of 1 test images \(12 x 12, PNG folder' "$spcnn" reconstruct \
    --model "$tmp/mx.spcnn" --data "$tmp/png" --count 1 --out "$tmp/x.png"
rm -f "$tmp/x.png"
# Bounded memory: 70 images of about 4 million pixels (275 MB decoded) train under a 250 MB
# address-space limit (the program itself needs about 170 MB), because only a batch's images
# are decoded at a time.
"$python" - "$tmp/big" <<'PY' || fail "could not write the large folder"
import os, struct, sys, zlib
def chunk(k, d):
    return struct.pack(">I", len(d)) + k + d + struct.pack(">I", zlib.crc32(k + d))
def png_bytes(h, w):
    row = b"\0" + bytes((c * 7) % 256 for c in range(w))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(row * h, 9)) + chunk(b"IEND", b""))
os.makedirs(sys.argv[1] + "/sub")
blobs = [png_bytes(2048, 2048), png_bytes(1536, 2560)]
for i in range(70):
    with open("%s/%simg%02d.png" % (sys.argv[1], "sub/" if i % 2 else "", i), "wb") as f:
        f.write(blobs[i % 2])
PY
# (Not under AddressSanitizer, which reserves terabytes of address space for its shadow.)
if ldd "$spcnn" 2> /dev/null | grep -q libasan; then
    echo "skip: training under ulimit -v (AddressSanitizer build)"
else
    # shellcheck disable=SC2086
    expect 0 'trained 3 steps' sh -c 'ulimit -v 250000 && exec "$@"' sh "$spcnn" train \
        --data "$tmp/big" --out "$tmp/big.spcnn" --steps 3 --no-eval --validation 0 $tiny
fi
rm -rf "$tmp/big" "$tmp/big.spcnn" "$tmp/big.spcnn.log.csv"
# ... and the limit binds: holding the folder's decoded bytes at once fails under it.
sh -c 'ulimit -v 250000 && exec "$0" -c "bytearray(275 * 10 ** 6)"' "$python" 2> /dev/null &&
    fail "ulimit -v 250000 did not stop a 275 MB allocation" || pass

# 5. SIGTERM: checkpoint and exit 130.
# term_training OUT [FLAGS...]: a 2-minute training run into OUT, sent SIGTERM once its log
# exists and it has run a moment; its exit status in $got, its output in $tmp/sig.
term_training() {
    term_out=$1
    shift
    # shellcheck disable=SC2086
    "$spcnn" train --data "$tmp/idx" --out "$term_out" --minutes 2 $tiny "$@" > "$tmp/sig" 2>&1 &
    term_pid=$!
    i=0
    while [ ! -f "$term_out.log.csv" ] && [ $i -lt 200 ]; do sleep 0.1; i=$((i + 1)); done
    sleep 1
    kill -TERM $term_pid
    wait $term_pid
    got=$?
}
term_training "$tmp/s.spcnn" --no-eval
[ $got -eq 130 ] && pass || { fail "SIGTERM: exit status $got, expected 130"; cat "$tmp/sig"; }
grep -q 'stopped by SIGTERM at step [0-9]*; checkpoint saved' "$tmp/sig" && [ -s "$tmp/s.spcnn" ] &&
    pass || { fail "SIGTERM: no checkpoint"; cat "$tmp/sig"; }
# Stopped between evaluations (here: none before the stop), the log gets a line that carries
# the training clock, without validation figures, and a resumed run's minutes go on from it.
term_training "$tmp/s2.spcnn" --eval-every 1000000 --eval-images 2
last=$(tail -n 1 "$tmp/s2.spcnn.log.csv" 2>/dev/null)
stopped=$(sed -n 's/.*stopped by SIGTERM at step \([0-9]*\);.*/\1/p' "$tmp/sig")
[ $got -eq 130 ] && echo "$last" | grep -Eq "^[0-9.]+,$stopped,[0-9.]+,[0-9.]+,nan,nan,nan$" &&
    pass ||
    { fail "SIGTERM between evaluations: status $got, last log line '$last'"; cat "$tmp/sig"; }
expect 0 "now at step $((stopped + 1))" "$spcnn" train --data "$tmp/idx" \
    --resume "$tmp/s2.spcnn" --steps $((stopped + 1)) --eval-images 2 --prior-components 0
"$python" - "$tmp/s2.spcnn.log.csv" <<'PY' && pass || fail "resumed minutes do not go on"
import sys
rows = [l.split(",") for l in open(sys.argv[1]).read().split()[1:]]
assert len(rows) == 2 and rows[0][4] == "nan" and rows[1][4] != "nan", rows
assert float(rows[1][0]) >= float(rows[0][0]) > 0, rows
PY

# 6. Generation: sample, generate, upscale, reconstruct with the tiny model m.
size_of() { # the "HxW" of a PNG file's IHDR
    "$python" -c 'import struct, sys
d = open(sys.argv[1], "rb").read(24)
w, h = struct.unpack(">II", d[16:24]) if d[:8] == b"\x89PNG\r\n\x1a\n" else (0, 0)
print("%dx%d" % (h, w))' "$1" 2>/dev/null
}
expect 0 'usage: spcnn sample' "$spcnn" sample --help
expect 0 'columns, each image at its own size' "$spcnn" help reconstruct
expect 0 '--stream' "$spcnn" upscale --help
expect 0 'usage: spcnn generate' "$spcnn" generate --help
expect 2 "--size: '12y' is not a size HxW or N" "$spcnn" sample --model "$m" --size 12y \
    --out "$tmp/x.png"
expect 2 "--size: '12x' is not a size" "$spcnn" generate --model "$m" --size 12x --out "$tmp/x.png"
expect 2 "--size: '0x12': each side must be in" "$spcnn" generate --model "$m" --size 0x12 \
    --out "$tmp/x.png"
expect 2 "--sizes: '12,,16' is not a size|--sizes: '' is not a size" "$spcnn" reconstruct \
    --model "$m" --data "$tmp/idx" --out "$tmp/x.png" --sizes 12,,16
expect 2 '--model, --size and --out \(or --out-dir\) are required' "$spcnn" sample --model "$m"
expect 2 "--schedule: 'zigzag' is not raster or wavefront" "$spcnn" sample --model "$m" \
    --size 12 --out "$tmp/x.png" --schedule zigzag
expect 2 "--temperature: '3' is not a number in \[0, 2\]" "$spcnn" generate --model "$m" \
    --size 12 --out "$tmp/x.png" --temperature 3
expect 2 "--precision: 'fp16' is not fp32 or bf16" "$spcnn" sample --model "$m" \
    --size 12 --out "$tmp/x.png" --precision fp16
expect 2 "--precision: 'half' is not fp32 or bf16" "$spcnn" eval --model "$m" \
    --data "$tmp/idx" --precision half
expect 0 'precision +fp32$' "$spcnn" info "$m"
# bf16 where the CPU has it (AVX-512 BF16), else the library's refusal.
if grep -qw avx512_bf16 /proc/cpuinfo; then
    expect 0 'generated 2 images' "$spcnn" sample --model "$m" --size 12 --count 2 \
        --out "$tmp/bf16.png" --precision bf16
    expect 0 'bits/dim' "$spcnn" eval --model "$m" --data "$tmp/idx" --limit 2 --precision bf16
else
    expect 1 'precision bf16 needs a CPU with AVX-512 BF16' "$spcnn" sample --model "$m" \
        --size 12 --count 2 --out "$tmp/bf16.png" --precision bf16
fi
expect 2 '--stream takes no value' "$spcnn" generate --model "$m" --size 12 --out "$tmp/x.png" \
    --stream=1
expect 1 '4x4 is smaller than the 8x8 window' "$spcnn" generate --model "$m" --size 4 \
    --out "$tmp/x.png" --stream
[ ! -e "$tmp/x.png" ] && [ -z "$(ls "$tmp" | grep 'x\.png\.tmp')" ] && pass ||
    fail "a failed generation left a file behind"

expect 0 'wrote .*g1.png \(12 x 25 pixels: a grid of 1 x 2\)' "$spcnn" sample --model "$m" \
    --size 12x12 --count 2 --seed 3 --out "$tmp/g1.png" --out-dir "$tmp/od/sub" \
    --schedule raster
[ "$(size_of "$tmp/g1.png")" = 12x25 ] && pass || fail "sample grid: $(size_of "$tmp/g1.png")"
[ "$(size_of "$tmp/od/sub/sample-0001.png")" = 12x12 ] && [ ! -e "$tmp/od/sub/sample-0002.png" ] &&
    pass || fail "sample --out-dir: $(ls "$tmp/od/sub" 2>&1)"
expect 0 'generated 2 images' "$spcnn" sample --model "$m" --size 12 --count 2 --seed 3 \
    --out "$tmp/g2.png" --schedule wavefront --threads 2
cmp -s "$tmp/g1.png" "$tmp/g2.png" && pass || fail "raster and wavefront samples differ"
expect 0 'a grid of 2 x 2' "$spcnn" sample --model "$m" --size 8x10 --count 3 --seed 3 \
    --out "$tmp/g3.png" --temperature 0
[ "$(size_of "$tmp/g3.png")" = 17x21 ] && pass || fail "3-image grid: $(size_of "$tmp/g3.png")"
expect 0 'wrote .*gen.png \(12 x 12\)' "$spcnn" generate --model "$m" --size 12 --seed 3 \
    --out "$tmp/gen.png"
cmp -s "$tmp/gen.png" "$tmp/od/sub/sample-0000.png" && pass ||
    fail "generate differs from image 0 of sample with the same seed"
# Streaming rows into the PNG writer gives the very file that spcnn_png_write gives.
expect 0 '40 x 40, streamed' "$spcnn" generate --model "$m" --size 40x40 --seed 5 \
    --out "$tmp/s1.png" --stream
expect 0 '40 x 40\)' "$spcnn" generate --model "$m" --size 40 --seed 5 --out "$tmp/s2.png"
[ "$(size_of "$tmp/s1.png")" = 40x40 ] && cmp -s "$tmp/s1.png" "$tmp/s2.png" && pass ||
    fail "generate --stream differs from generate"
expect 0 '24 x 24\)' "$spcnn" upscale --model "$m" --in "$tmp/png/img03.png" --size 24x24 \
    --out "$tmp/u1.png"
expect 0 '24 x 24, streamed' "$spcnn" upscale --model "$m" --in "$tmp/png/img03.png" \
    --size 24 --out "$tmp/u2.png" --stream --schedule raster
[ "$(size_of "$tmp/u1.png")" = 24x24 ] && cmp -s "$tmp/u1.png" "$tmp/u2.png" && pass ||
    fail "upscale --stream differs from upscale"
expect 0 '16 x 20, streamed' "$spcnn" upscale --model "$m" --in "$tmp/mixed/b.png" \
    --size 16x20 --out "$tmp/u3.png" --stream
expect 1 'nothing.png' "$spcnn" upscale --model "$m" --in "$tmp/nothing.png" --size 24 \
    --out "$tmp/u4.png"
# 2 rows; columns input 12x12, VAE decoder 12x12, 12x12, 16x16 in cells of 16x16.
expect 0 'reconstructed 2 of 8 test images .* at 12x12 16x16' "$spcnn" reconstruct \
    --model "$m" --data "$tmp/idx" --count 2 --sizes 12,16 --out "$tmp/r.png"
expect 0 'columns input, VAE decoder 12x12, 12x12, 16x16\)' "$spcnn" reconstruct \
    --model "$m" --data "$tmp/idx" --count 2 --sizes 12,16 --out "$tmp/r.png"
[ "$(size_of "$tmp/r.png")" = 33x67 ] && pass || fail "reconstruct grid: $(size_of "$tmp/r.png")"

# Seeds take the whole uint64_t range, as in C and Python; train's `seed` key, stored in the
# model as a double, stops at 2^53-1 and says so.
max=18446744073709551615
expect 0 'generated 2 images' "$spcnn" sample --model "$m" --size 12 --count 2 --seed $max \
    --out-dir "$tmp/maxseed"
expect 0 'wrote' "$spcnn" generate --model "$m" --size 12 --seed $max --out "$tmp/maxseed.png"
cmp -s "$tmp/maxseed.png" "$tmp/maxseed/sample-0000.png" && pass ||
    fail "generate --seed 2^64-1 differs from image 0 of sample with that seed"
cmp -s "$tmp/maxseed.png" "$tmp/gen.png" && fail "--seed 2^64-1 drew what --seed 3 drew" || pass
for cmd in sample generate; do
    expect 2 "^spcnn $cmd: --seed: '18446744073709551616' is not an integer in \\[0, $max\\]" \
        "$spcnn" $cmd --model "$m" --size 12 --out "$tmp/x.png" --seed 18446744073709551616
done
expect 2 "^spcnn reconstruct: --seed: '-1' is not an integer in \\[0, $max\\]" "$spcnn" \
    reconstruct --model "$m" --data "$tmp/idx" --out "$tmp/x.png" --seed -1
expect 0 'prior: 2 Gaussians' "$spcnn" fit-prior --model "$m" --data "$tmp/idx" --components 2 \
    --seed $max --out "$tmp/pmax.spcnn"
expect 2 "^spcnn fit-prior: --seed: '1e3' is not an integer in \\[0, $max\\]" "$spcnn" \
    fit-prior --model "$m" --data "$tmp/idx" --seed 1e3
# shellcheck disable=SC2086
expect 2 "^spcnn train: --seed: '9007199254740992' is not an integer in \\[0, 9007199254740991\\] \\(the model stores its seed as a double" \
    "$spcnn" train --data "$tmp/idx" --out "$tmp/x" --steps 1 $tiny --seed 9007199254740992
# shellcheck disable=SC2086
expect 0 'seed=9007199254740991' "$spcnn" train --data "$tmp/idx" --out "$tmp/seedmax.spcnn" \
    --steps 1 --no-eval --prior-components 0 $tiny --seed 9007199254740991
expect 0 'seed +9007199254740991$' "$spcnn" info "$tmp/seedmax.spcnn"
# train takes the schedule by name, as the generation commands do, or by number.
# shellcheck disable=SC2086
expect 0 ' schedule=raster' "$spcnn" train --data "$tmp/idx" --out "$tmp/raster.spcnn" \
    --steps 1 --no-eval --prior-components 0 $tiny --schedule raster
expect 0 'schedule +raster$' "$spcnn" info "$tmp/raster.spcnn"
# shellcheck disable=SC2086
expect 0 ' schedule=raster' "$spcnn" train --data "$tmp/idx" --out "$tmp/raster0.spcnn" \
    --steps 1 --no-eval --prior-components 0 $tiny --schedule=0

# Ctrl-C while a large image is streamed: status 130, no file, no temporary file.
"$spcnn" generate --model "$m" --size 400 --out "$tmp/big.png" --stream > "$tmp/sig" 2>&1 &
pid=$!
i=0
while [ -z "$(ls "$tmp" | grep 'big\.png\.tmp')" ] && [ $i -lt 200 ]; do
    sleep 0.1
    i=$((i + 1))
done
sleep 0.3
kill -INT $pid
wait $pid
got=$?
[ $got -eq 130 ] && grep -q 'interrupted; no file written' "$tmp/sig" && pass ||
    { fail "SIGINT during generate: exit status $got, expected 130"; cat "$tmp/sig"; }
[ -z "$(ls "$tmp" | grep big)" ] && pass || fail "SIGINT left $(ls "$tmp" | grep big)"

# 6b. spcnn likelihood: the per-pixel map of a 12 x 12 PNG under the tiny model m, as a heat
#     map and CSV; its mean is the printed bits/dim, its sum the total.
"$python" - "$tmp" <<'PY' || { echo "FAIL: could not write the likelihood inputs"; exit 1; }
import struct, sys, zlib
tmp = sys.argv[1]
def png(path, h, w, kind, data):  # kind 0 gray, 2 RGB; rows unfiltered
    c = 1 if kind == 0 else 3
    rows = b"".join(b"\0" + data[r * w * c:(r + 1) * w * c] for r in range(h))
    def chunk(k, d):
        return struct.pack(">I", len(d)) + k + d + struct.pack(">I", zlib.crc32(k + d))
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, kind, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
# img03.png of the data set (written unfiltered above) as RGB with r = g = b: the same gray
d = open(tmp + "/png/img03.png", "rb").read()
raw = zlib.decompress(d[d.index(b"IDAT") + 4:d.index(b"IEND") - 8])
gray = b"".join(raw[r * 13 + 1:(r + 1) * 13] for r in range(12))
png(tmp + "/rgb03.png", 12, 12, 2, bytes(v for v in gray for _ in range(3)))
png(tmp + "/tiny4.png", 4, 4, 0, bytes(range(0, 160, 10)))
PY
# ihdr <file>: "HxW type" of a PNG (type 0 gray, 2 RGB)
ihdr() {
    "$python" -c 'import struct, sys
d = open(sys.argv[1], "rb").read(26)
w, h = struct.unpack(">II", d[16:24])
print("%dx%d %d" % (h, w, d[25]))' "$1" 2>/dev/null
}
# map_matches_output <csv> <rows> <cols>: the CSV has rows lines of cols values, its mean is the
# printed bits/dim (4 decimals) and its sum the printed total (2 decimals)
map_matches_output() {
    "$python" - "$1" "$2" "$3" "$tmp/out" <<'PY'
import re, sys
path, rows, cols, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), open(sys.argv[4]).read()
lines = open(path).read().splitlines()
values = [[float(v) for v in line.split(",")] for line in lines]
assert len(values) == rows and all(len(r) == cols for r in values), \
    "shape %d x %s, expected %d x %d" % (len(values), sorted({len(r) for r in values}), rows, cols)
flat = [v for r in values for v in r]
assert min(flat) > -1e-3, min(flat)
bpd = float(re.search(r"^bits/dim: ([0-9.]+) ", out, re.M).group(1))
total = float(re.search(r"^total: +([0-9.]+) bits", out, re.M).group(1))
top = float(re.search(r"^maximum: +([0-9.]+) bits", out, re.M).group(1))
mean = sum(flat) / len(flat)
assert abs(mean - bpd) <= 5.1e-5, "mean of the map %.6f, printed bits/dim %.4f" % (mean, bpd)
assert abs(sum(flat) - total) <= 5.1e-3, "sum of the map %.4f, printed total %.2f" % (sum(flat), total)
assert abs(max(flat) - top) <= 5.1e-5, "maximum of the map %.6f, printed %.4f" % (max(flat), top)
print("likelihood map: mean %.6f (printed %.4f), sum %.4f (printed %.2f)" % (mean, bpd, sum(flat), total))
PY
}
expect 0 'usage: spcnn likelihood' "$spcnn" likelihood --help
expect 0 '--max-bits X' "$spcnn" help likelihood
expect 0 '^bits/dim: [0-9]+\.[0-9]{4} \(the mean of the map, over 144 pixels\)' "$spcnn" \
    likelihood --model "$m" --in "$tmp/png/img03.png" --out "$tmp/lk.png" --csv "$tmp/lk.csv"
map_matches_output "$tmp/lk.csv" 12 12 && pass || fail "likelihood: the CSV does not match the output"
for want in '^z: +the encoder mean of the image$' '^scale: +0 to [0-9.]+ bits \(the image.s maximum\)' \
            '^total: +[0-9.]+ bits' '^colours: +inferno' 'wrote .*lk\.png \(12 x 12, RGB\)' \
            'wrote .*lk\.csv \(12 rows of 12 values in bits\)'; do
    grep -Eq -- "$want" "$tmp/out" && pass || fail "spcnn likelihood: no /$want/"
done
[ "$(ihdr "$tmp/lk.png")" = "12x12 2" ] && pass || fail "likelihood map: $(ihdr "$tmp/lk.png")"
grep '^bits/dim' "$tmp/out" > "$tmp/lk-encode"
# An RGB file of the same gray values is read as that gray image.
expect 0 'bits/dim' "$spcnn" likelihood --model "$m" --in "$tmp/rgb03.png" --out "$tmp/lk3.png" \
    --csv "$tmp/lk3.csv"
cmp -s "$tmp/lk.csv" "$tmp/lk3.csv" && pass || fail "likelihood: an RGB PNG of the same gray differs"
# A fixed scale, gray and zoomed: the map is 36 x 36 gray.
expect 0 '^scale: +0 to 0\.5 bits \(--max-bits\); [0-9]+ pixels? above it' "$spcnn" likelihood \
    --model "$m" --in "$tmp/png/img03.png" --out "$tmp/lkg.png" --max-bits 0.5 --colormap gray \
    --zoom 3 --threads 2
[ "$(ihdr "$tmp/lkg.png")" = "36x36 0" ] && pass || fail "likelihood --zoom 3 --colormap gray: $(ihdr "$tmp/lkg.png")"
# z from the model's prior: the seed decides it, and it is not the encoder's.
expect 0 "^z: +drawn from the model's prior \\(a mixture of 29 Gaussians\\), seed 3" "$spcnn" \
    likelihood --model "$m" --in "$tmp/png/img03.png" --out "$tmp/lkp.png" --z prior --seed 3 \
    --csv "$tmp/lkp.csv"
map_matches_output "$tmp/lkp.csv" 12 12 && pass || fail "likelihood --z prior: the CSV does not match"
grep '^bits/dim' "$tmp/out" | cmp -s - "$tmp/lk-encode" && fail "--z prior gave the encoder's map" || pass
expect 0 'seed 3' "$spcnn" likelihood --model "$m" --in "$tmp/png/img03.png" --out "$tmp/lkp.png" \
    --z=prior --seed 3 --csv "$tmp/lkp2.csv"
cmp -s "$tmp/lkp.csv" "$tmp/lkp2.csv" && pass || fail "likelihood --z prior: the same seed, another map"
expect 0 'N\(0, I\), seed 3' "$spcnn" likelihood --model "$tmp/p0.spcnn" --in "$tmp/png/img03.png" \
    --out "$tmp/lkp.png" --z prior --seed 3
# A rectangular image: the CSV is height rows of width values.
expect 0 'over 192 pixels' "$spcnn" likelihood --model "$m" --in "$tmp/mixed/b.png" \
    --out "$tmp/lkb.png" --csv "$tmp/lkb.csv"
map_matches_output "$tmp/lkb.csv" 16 12 && pass || fail "likelihood 16 x 12: the CSV does not match"
[ "$(ihdr "$tmp/lkb.png")" = "16x12 2" ] && pass || fail "likelihood 16 x 12 map: $(ihdr "$tmp/lkb.png")"
# Errors: no file is written.
expect 1 "^spcnn likelihood: $tmp/nothing\\.png: input/output error .*No such file" "$spcnn" \
    likelihood --model "$m" --in "$tmp/nothing.png" --out "$tmp/lkx.png"
expect 1 "^spcnn likelihood: $tmp/m\\.spcnn\\.log\\.csv: malformed file .*not a PNG" "$spcnn" \
    likelihood --model "$m" --in "$m.log.csv" --out "$tmp/lkx.png"
expect 1 "^spcnn likelihood: $tmp/tiny4\\.png: a 4 x 4 image is smaller than the model's 8 x 8 window" \
    "$spcnn" likelihood --model "$m" --in "$tmp/tiny4.png" --out "$tmp/lkx.png" --csv "$tmp/lkx.csv"
expect 1 "^spcnn likelihood: $tmp/none\\.spcnn: input/output error" "$spcnn" likelihood \
    --model "$tmp/none.spcnn" --in "$tmp/png/img03.png" --out "$tmp/lkx.png"
[ -z "$(ls "$tmp" | grep lkx)" ] && pass || fail "a failed likelihood left $(ls "$tmp" | grep lkx)"
expect 2 "^spcnn likelihood: --z: 'posterior' is not encode or prior" "$spcnn" likelihood \
    --model "$m" --in "$tmp/png/img03.png" --out "$tmp/lkx.png" --z posterior
expect 2 '^spcnn likelihood: --model, --in and --out are required' "$spcnn" likelihood \
    --model "$m" --in "$tmp/png/img03.png"
expect 2 "^spcnn likelihood: --max-bits: '0' is not a number" "$spcnn" likelihood --model "$m" \
    --in "$tmp/png/img03.png" --out "$tmp/lkx.png" --max-bits 0
expect 2 "^spcnn likelihood: --colormap: 'jet' is not inferno or gray" "$spcnn" likelihood \
    --model "$m" --in "$tmp/png/img03.png" --out "$tmp/lkx.png" --colormap jet
expect 2 '^spcnn likelihood: --out and --csv name the same file' "$spcnn" likelihood \
    --model "$m" --in "$tmp/png/img03.png" --out "$tmp/lkx.png" --csv "$tmp/lkx.png"

# 7. The classifier: spcnn classifier train|eval on a labelled set of 14 x 14 bars of 4
#    orientations (200 training and 40 test images with their IDX label files; and 10 test
#    images of 12 x 12).
mkdir -p "$tmp/lab" "$tmp/lab12"
"$python" - "$tmp/lab" "$tmp/lab12" <<'PY' || { echo "FAIL: could not write the labelled data set"; exit 1; }
import random, struct, sys
out = sys.argv[1]
rng = random.Random(11)
def bars(n, s=14):
    pix, lab = bytearray(), bytearray()
    for _ in range(n):
        cls, off = rng.randrange(4), rng.randrange(-3, 4)
        for y in range(s):
            for x in range(s):
                d = [y - s // 2 - off, x - s // 2 - off, x - y - off, x + y - s - off][cls]
                pix.append(max(0, min(255, (220 if abs(d) <= 1 else 20) + rng.randint(-20, 20))))
        lab.append(cls)
    return pix, lab
for folder, name, n, s in ((out, "train", 200, 14), (out, "t10k", 40, 14),
                           (sys.argv[2], "t10k", 10, 12)):
    pix, lab = bars(n, s)
    with open("%s/%s-images-idx3-ubyte" % (folder, name), "wb") as f:
        f.write(struct.pack(">IIII", 0x803, n, s, s) + pix)
    with open("%s/%s-labels-idx1-ubyte" % (folder, name), "wb") as f:
        f.write(struct.pack(">II", 0x801, n) + lab)
PY
cls=$tmp/c.spcls
expect 0 'usage: spcnn classifier train' "$spcnn" classifier --help
expect 0 'usage: spcnn classifier train' "$spcnn" help classifier
expect 2 'usage: spcnn classifier train' "$spcnn" classifier
expect 2 "unknown subcommand 'bogus'" "$spcnn" classifier bogus
expect 2 '--data and --out are required' "$spcnn" classifier train --epochs 1
expect 2 "--epochs: '0' is not an integer" "$spcnn" classifier train --data "$tmp/lab" \
    --out "$cls" --epochs 0
expect 2 "unknown argument '--bogus'" "$spcnn" classifier train --bogus 1
expect 2 "^spcnn classifier train: --seed: '18446744073709551616' is not an integer in \\[0, 18446744073709551615\\]" \
    "$spcnn" classifier train --data "$tmp/lab" --out "$cls" --seed 18446744073709551616
expect 2 '--model and --data are required' "$spcnn" classifier eval --model "$cls"
expect 1 'none/train-images-idx3-ubyte' "$spcnn" classifier train --data "$tmp/none" \
    --out "$cls"
expect 1 'train-labels-idx1-ubyte' "$spcnn" classifier train --data "$tmp/idx" --out "$cls"
expect 0 'trained 3 epochs in .*; best epoch [1-3], validation accuracy' "$spcnn" classifier \
    train --data "$tmp/lab" --out "$cls" --epochs 3 --batch-size 16 --seed 5
grep -q '180 training images of 14 x 14, 4 classes, 11 steps of 16 per epoch; 20 more held out' \
    "$tmp/out" && pass || fail "classifier train: $(grep data: "$tmp/out")"
[ "$(grep -c '^epoch [1-3]/3 | train loss [0-9.]* accuracy [0-9.]* % | validation accuracy' \
    "$tmp/out")" -eq 3 ] && pass || fail "classifier train: no line per epoch"
[ -s "$cls" ] && pass || fail "no classifier file $cls"
expect 0 'test accuracy: (9[0-9]|100)\.[0-9]+ %' "$spcnn" classifier eval --model "$cls" \
    --data "$tmp/lab"
for want in '^test images: 40 of' 'per class:' '  3: +[0-9.]+ % of [0-9]+' \
            '^mean confidence: 0\.[0-9]+' '^prediction: [0-9]+ images/s'; do
    grep -Eq -- "$want" "$tmp/out" && pass || fail "spcnn classifier eval: no /$want/"
done
grep '^test accuracy' "$tmp/out" > "$tmp/acc1"
expect 0 'test accuracy' "$spcnn" classifier eval --model "$cls" --data "$tmp/lab" --threads 2
grep '^test accuracy' "$tmp/out" | cmp -s - "$tmp/acc1" && pass ||
    fail "classifier eval with 2 threads: $(grep '^test accuracy' "$tmp/out")"
# The same seed, the same file; the test images are never read while training.
# 8. spcnn score: a tiny model of the bars, judged by that classifier at 14 x 14 and 28 x 28
#    (brought back to 14 x 14 by the area filter).
# shellcheck disable=SC2086
expect 0 'now at step 2' "$spcnn" train --data "$tmp/lab" --out "$tmp/lm.spcnn" --steps 2 $tiny
expect 0 'usage: spcnn score' "$spcnn" score --help
expect 2 '--model, --data and --classifier are required' "$spcnn" score --model "$tmp/lm.spcnn" \
    --data "$tmp/lab"
expect 2 "--samples: '1' is not an integer in \\[2, " "$spcnn" score --model "$tmp/lm.spcnn" --data "$tmp/lab" \
    --classifier "$cls" --samples 1
score_bars() {
    "$spcnn" score --model "$tmp/lm.spcnn" --data "$tmp/lab" --classifier "$cls" \
        --sizes 14,28 --samples 6 --recon 5 --bpd-images 2 --seed 3 "$@"
}
expect 0 '^real 14x14 ' score_bars
# MS-SSIM needs 16 x 16: "-" at 14 x 14; bits/dim only at the training size.
for want in '^14x14 +[0-9.]+ ± [0-9.]+ +[0-9.]+ % \([0-3]\) +[0-9.]+ +- +[0-9.]+ +[0-9.]+ ' \
            '^28x28 +[0-9.]+ ± [0-9.]+ +[0-9.]+ % \([0-3]\) +[0-9.]+ +[0-9.]+ ± [0-9.]+ +- +- ' \
            '6 samples per size \(seed 3\), 5 reconstructions, bits/dim over 2 test images'; do
    grep -Eq -- "$want" "$tmp/out" && pass || fail "spcnn score: no /$want/"
done
# The JSON is stdout alone: on a slow machine a progress line reaches stderr every 10 s.
for t in 1 2; do
    score_bars --json --threads $t > "$tmp/score$t.json" 2> "$tmp/out" &&
        grep -q '"rows"' "$tmp/score$t.json" && pass ||
        { fail "spcnn score --json --threads $t"; cat "$tmp/out" "$tmp/score$t.json"; }
done
"$python" - "$tmp/score1.json" "$tmp/score2.json" <<'PY' && pass || fail "spcnn score --json: see above"
import json, sys
runs = [json.load(open(p)) for p in sys.argv[1:]]
for run in runs:
    rows = run["rows"]
    assert [r["name"] for r in rows] == ["real 14x14", "14x14", "28x28"], rows
    for r in rows:
        assert sum(r["histogram"]) == 6 and len(r["histogram"]) == 4, r
        assert 25 <= r["confidence_mean"] <= 100 and 0 <= r["recon_accuracy"] <= 100, r
    assert rows[0]["msssim_mean"] is None and rows[1]["msssim_mean"] is None, rows
    assert 0 <= rows[2]["msssim_mean"] <= 1, rows
    assert rows[1]["bpd_patches"] > 0 and rows[2]["bpd_patches"] is None, rows
# the same seed gives the same numbers, whatever the thread count
strip = lambda run: [{k: v for k, v in r.items() if k != "seconds"} for r in run["rows"]]
assert strip(runs[0]) == strip(runs[1]), (strip(runs[0]), strip(runs[1]))
PY
expect 0 '^valid 14x14 ' score_bars --split validation
grep -q 'bits/dim over 2 validation images' "$tmp/out" && pass ||
    fail "spcnn score --split validation: $(grep 'bits/dim over' "$tmp/out")"
expect 0 'no test labels' "$spcnn" score --model "$m" --data "$tmp/idx" --classifier "$cls" \
    --sizes 16 --samples 3 --recon 3 --bpd-images 1
grep -Eq '^16x16 +[0-9.]+ ± [0-9.]+ +[0-9.]+ % \([0-3]\) +- +[0-9.]+ ± ' "$tmp/out" && pass ||
    fail "spcnn score without labels: $(grep '^16x16' "$tmp/out")"

rm "$tmp/lab/t10k-images-idx3-ubyte"
expect 0 'trained 3 epochs' "$spcnn" classifier train --data "$tmp/lab" --out "$tmp/c2.spcls" \
    --epochs 3 --batch-size 16 --seed 5
cmp -s "$cls" "$tmp/c2.spcls" && pass || fail "classifier train is not deterministic"
expect 0 'trained 1 epochs' "$spcnn" classifier train --data "$tmp/lab" --out "$tmp/c3.spcls" \
    --epochs 1 --batch-size 16 --seed 18446744073709551615
expect 1 't10k-images-idx3-ubyte' "$spcnn" classifier eval --model "$cls" --data "$tmp/lab"
expect 1 'not a classifier file' "$spcnn" classifier eval --model "$m" --data "$tmp/lab"
expect 1 'classifies 14 x 14 images, but .* holds 12 x 12' "$spcnn" classifier eval \
    --model "$cls" --data "$tmp/lab12"
expect 1 'too few' "$spcnn" classifier train --data "$tmp/lab" --out "$tmp/x" \
    --validation 190 --batch-size 16
# SIGTERM: exit status 130, the file holds the best epoch finished.
"$spcnn" classifier train --data "$tmp/lab" --out "$tmp/s.spcls" --epochs 100000 \
    --batch-size 16 > "$tmp/sig" 2>&1 &
pid=$!
i=0
while [ ! -f "$tmp/s.spcls" ] && [ $i -lt 200 ]; do sleep 0.1; i=$((i + 1)); done
kill -TERM $pid
wait $pid
got=$?
[ $got -eq 130 ] && grep -q 'stopped by SIGTERM in epoch [0-9]*; .*s.spcls holds epoch' "$tmp/sig" &&
    pass || { fail "classifier SIGTERM: exit status $got, expected 130"; cat "$tmp/sig"; }

# 9. Every command that writes files checks first that it can, before any long work, and leaves
#    nothing behind when it cannot. /proc takes no new file, not even from root (for whom
#    access(2) would say yes).
# nowork <pattern>: the last command printed no /pattern/ (it did not start the work).
nowork() {
    if grep -Eq -- "$1" "$tmp/out"; then
        fail "the work started before the output was checked: /$1/ in"; sed 's/^/    /' "$tmp/out"
    else
        pass
    fi
}
expect 1 '^spcnn sample: cannot write /proc/x\.png: ' "$spcnn" sample --model "$m" --size 12 \
    --count 2 --out /proc/x.png
nowork 'sampling|generated'
expect 1 '^spcnn sample: cannot write /proc/x\.png: ' "$spcnn" sample --model "$m" --size 12 \
    --count 2 --out /proc/x.png --out-dir "$tmp/new1/sub"
[ ! -e "$tmp/new1" ] && pass || fail "sample left the --out-dir it made: $(ls -R "$tmp/new1")"
expect 1 '^spcnn sample: cannot create /proc/sub: ' "$spcnn" sample --model "$m" --size 12 \
    --count 2 --out "$tmp/new2.png" --out-dir /proc/sub
[ ! -e "$tmp/new2.png" ] && pass || fail "sample wrote its grid though --out-dir failed"
# The grid may go into the folder --out-dir makes.
expect 0 'wrote .*new5/grid.png' "$spcnn" sample --model "$m" --size 12 --count 2 \
    --out-dir "$tmp/new5" --out "$tmp/new5/grid.png"
[ "$(ls "$tmp/new5" | tr '\n' ' ')" = 'grid.png sample-0000.png sample-0001.png ' ] && pass ||
    fail "sample --out-dir DIR --out DIR/grid.png: $(ls "$tmp/new5")"
# A write that fails after generation (sample-0001.png is a folder) removes what was written.
mkdir -p "$tmp/new3/sample-0001.png"
expect 1 'spcnn sample: writing an image: .*sample-0001\.png' "$spcnn" sample --model "$m" \
    --size 12 --count 3 --out "$tmp/new3.png" --out-dir "$tmp/new3"
[ "$(ls "$tmp/new3")" = sample-0001.png ] && [ ! -e "$tmp/new3.png" ] && pass ||
    fail "a failed sample left $(ls "$tmp/new3") $(ls "$tmp" | grep new3)"
# Ctrl-C: status 130 and no --out-dir left behind.
"$spcnn" sample --model "$m" --size 100 --count 200 --out-dir "$tmp/new4/sub" > "$tmp/sig" 2>&1 &
pid=$!
i=0
while [ ! -d "$tmp/new4/sub" ] && [ $i -lt 200 ]; do sleep 0.1; i=$((i + 1)); done
sleep 0.3
kill -INT $pid
wait $pid
got=$?
[ $got -eq 130 ] && [ ! -e "$tmp/new4" ] && pass ||
    { fail "SIGINT during sample --out-dir: status $got, left $(ls -R "$tmp/new4" 2>&1)"; cat "$tmp/sig"; }
expect 1 '^spcnn generate: cannot write /proc/x\.png: ' "$spcnn" generate --model "$m" --size 12 \
    --out /proc/x.png
nowork 'generating|wrote'
expect 1 "^spcnn generate: cannot write $tmp/nodir/x\\.png: No such file" "$spcnn" generate \
    --model "$m" --size 12 --out "$tmp/nodir/x.png" --stream
expect 1 "^spcnn generate: cannot write $tmp/idx: Is a directory" "$spcnn" generate \
    --model "$m" --size 12 --out "$tmp/idx"
# A name the file system takes, but not with the writer's temporary suffix.
long=$(printf '%0250d' 0)
expect 1 "^spcnn generate: cannot write .*$long\\.png: File name too long" "$spcnn" generate \
    --model "$m" --size 12 --out "$tmp/$long.png"
expect 1 '^spcnn upscale: cannot write /proc/x\.png: ' "$spcnn" upscale --model "$m" \
    --in "$tmp/png/img03.png" --size 24 --out /proc/x.png
nowork 'generating|wrote'
expect 1 '^spcnn likelihood: cannot write /proc/x\.png: ' "$spcnn" likelihood --model "$m" \
    --in "$tmp/png/img03.png" --out /proc/x.png
nowork 'scoring|bits/dim'
expect 1 '^spcnn likelihood: cannot write /proc/x\.csv: ' "$spcnn" likelihood --model "$m" \
    --in "$tmp/png/img03.png" --out "$tmp/lk9.png" --csv /proc/x.csv
nowork 'scoring|bits/dim'
[ ! -e "$tmp/lk9.png" ] && pass || fail "likelihood wrote its map though --csv cannot be written"
expect 1 '^spcnn reconstruct: cannot write /proc/x\.png: ' "$spcnn" reconstruct --model "$m" \
    --data "$tmp/idx" --count 2 --sizes 12 --out /proc/x.png
nowork 'reconstructing|reconstructed'
# shellcheck disable=SC2086
expect 1 '^spcnn train: cannot write /proc/m\.spcnn: ' "$spcnn" train --data "$tmp/idx" \
    --out /proc/m.spcnn --steps 1 $tiny
nowork 'hyper-parameters|data:'
mkdir -p "$tmp/lg.spcnn.log.csv"
# shellcheck disable=SC2086
expect 1 'spcnn train: cannot write .*lg\.spcnn\.log\.csv: Is a directory' "$spcnn" train \
    --data "$tmp/idx" --out "$tmp/lg.spcnn" --steps 1 $tiny
nowork 'hyper-parameters|data:'
[ ! -e "$tmp/lg.spcnn" ] && pass || fail "train wrote a model though its log cannot be written"
expect 1 '^spcnn fit-prior: cannot write /proc/p\.spcnn: ' "$spcnn" fit-prior --model "$m" \
    --data "$tmp/idx" --components 2 --out /proc/p.spcnn
nowork '^prior:|fitting the prior'
expect 1 '^spcnn classifier train: cannot write /proc/c\.spcls: ' "$spcnn" classifier train \
    --data "$tmp/lab" --out /proc/c.spcls --epochs 1 --batch-size 16
nowork 'data:|epoch'
[ -z "$(find "$tmp" -name '*.tmp-*')" ] && pass ||
    fail "temporary files left behind: $(find "$tmp" -name '*.tmp-*')"

echo "cli_test: $checks checks passed, $failures failed"
[ $failures -eq 0 ]
