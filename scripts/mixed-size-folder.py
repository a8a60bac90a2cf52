#!/usr/bin/env python3
"""A folder of PNG images of mixed sizes made from an IDX data set (Fashion-MNIST by default),
for `spcnn train --data FOLDER` (docs/getting-started.md, "Images of mixed sizes"). Standard
library only.

    scripts/mixed-size-folder.py [--idx data/fashion-mnist] [--out data/fashion-mixed]
        [--count 6000] [--scales 1,2,3]

Takes the first COUNT images of IDX/train-images-idx3-ubyte; image i is upscaled by the i-th
of the scales, cycling (1, 2, 3: 28 x 28, 56 x 56 and 84 x 84 for 28 x 28 images), with
bilinear interpolation at half-pixel centres (output pixel o reads the input at
(o + 0.5) / scale - 0.5, neighbours clamped at the edges; values rounded), and written as an
8-bit gray PNG to OUT/x<scale>/<class>/<i>.png (the class from train-labels-idx1-ubyte when it
is there, else "all"). The folder is new: an existing OUT is refused.
"""

import argparse
import os
import struct
import sys
import zlib

FASHION = ["t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker",
           "bag", "boot"]


def read_idx(path, count):
    with open(path, "rb") as f:
        head = f.read(8)
        magic, n = struct.unpack(">II", head)
        dims = magic & 0xFF
        shape = struct.unpack(">" + "I" * (dims - 1), f.read(4 * (dims - 1)))
        size = 1
        for d in shape:
            size *= d
        n = min(n, count)
        data = f.read(n * size)
    if len(data) != n * size:
        sys.exit("%s: truncated" % path)
    return n, shape, data


def taps(n_in, n_out):
    """Per output index: the two input indices and the weight of the second."""
    out = []
    for o in range(n_out):
        pos = (o + 0.5) * n_in / n_out - 0.5
        lo = int(pos // 1)
        frac = pos - lo
        i0 = min(max(lo, 0), n_in - 1)
        i1 = min(max(lo + 1, 0), n_in - 1)
        out.append((i0, i1, frac))
    return out


def upscale(pixels, h, w, scale):
    if scale == 1:
        return bytes(pixels), h, w
    oh, ow = h * scale, w * scale
    ty, tx = taps(h, oh), taps(w, ow)
    out = bytearray(oh * ow)
    for r, (y0, y1, fy) in enumerate(ty):
        row0, row1 = y0 * w, y1 * w
        for c, (x0, x1, fx) in enumerate(tx):
            top = pixels[row0 + x0] + fx * (pixels[row0 + x1] - pixels[row0 + x0])
            bottom = pixels[row1 + x0] + fx * (pixels[row1 + x1] - pixels[row1 + x0])
            out[r * ow + c] = int(top + fy * (bottom - top) + 0.5)
    return bytes(out), oh, ow


def write_png(path, pixels, h, w):
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))
    rows = b"".join(b"\0" + pixels[r * w:(r + 1) * w] for r in range(h))
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n"
                + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b""))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--idx", default="data/fashion-mnist")
    ap.add_argument("--out", default="data/fashion-mixed")
    ap.add_argument("--count", type=int, default=6000)
    ap.add_argument("--scales", default="1,2,3")
    a = ap.parse_args()
    scales = [int(s) for s in a.scales.split(",")]
    if os.path.exists(a.out):
        sys.exit("%s exists: give a new folder" % a.out)
    n, shape, images = read_idx(os.path.join(a.idx, "train-images-idx3-ubyte"), a.count)
    h, w = shape
    labels_path = os.path.join(a.idx, "train-labels-idx1-ubyte")
    labels = read_idx(labels_path, n)[2] if os.path.exists(labels_path) else None
    fashion = "fashion" in os.path.basename(os.path.normpath(a.idx))
    counts = {}
    for i in range(n):
        scale = scales[i % len(scales)]
        if labels is None:
            cls = "all"
        else:
            cls = FASHION[labels[i]] if fashion and labels[i] < 10 else "%d" % labels[i]
        folder = os.path.join(a.out, "x%d" % scale, cls)
        os.makedirs(folder, exist_ok=True)
        pixels, oh, ow = upscale(images[i * h * w:(i + 1) * h * w], h, w, scale)
        write_png(os.path.join(folder, "%05d.png" % i), pixels, oh, ow)
        counts[(oh, ow)] = counts.get((oh, ow), 0) + 1
    print("wrote %d images to %s: %s" % (n, a.out, ", ".join(
        "%d of %d x %d" % (c, hh, ww) for (hh, ww), c in sorted(counts.items()))))


if __name__ == "__main__":
    main()
