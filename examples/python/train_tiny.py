#!/usr/bin/python3
"""Train a tiny Spatial PixelCNN for a few steps from Python, then write a PNG of samples.

Usage (from the source tree, after building into build/):
    PYTHONPATH=bindings/python SPCNN_LIBRARY=build/lib/libspatialpixelcnn.so.0 \\
        /usr/bin/python3 examples/python/train_tiny.py [--idx FILE] [--steps N] [--save FILE]
        [--samples N] [--size HxW] [--png FILE]

Without --idx it trains on random 8x8 images; with --idx it reads an IDX image file such as
data/mnist/train-images-idx3-ubyte (MNIST, from scripts/get-data.sh). After training it generates --samples
images (at the training size, or any --size of at least 8x8: a larger size upscales) and
writes them side by side as one PNG grid (default samples.png). Works with or without numpy.
"""

import argparse
import math
import os
import random
import sys

try:
    import spatialpixelcnn as sp
except ModuleNotFoundError:
    # Run from a checkout without PYTHONPATH: use the package in bindings/python.
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, os.path.join(here, "..", "..", "bindings", "python"))
    import spatialpixelcnn as sp


def batches(images, batch):
    """Consecutive batches of (batch, h, w) images from a numpy array or a Raw, cycling."""
    n, h, w = images.shape
    start = 0
    while True:
        if start + batch > n:
            start = 0
        if isinstance(images, sp.Raw):
            size = h * w
            data = images.data[start * size:(start + batch) * size]
            yield sp.Raw(data, (batch, h, w))
        else:
            yield images[start:start + batch]
        start += batch


def random_images(n, h, w, seed):
    rng = random.Random(seed)
    return sp.Raw(bytes(rng.randrange(256) for _ in range(n * h * w)), (n, h, w))


def image_bytes(result):
    """The pixels of a generated batch as bytes: a Raw's data, or a numpy array's buffer."""
    return result.data if isinstance(result, sp.Raw) else result.tobytes()


def grid(pixels, n, h, w, gap=2):
    """n images of h x w bytes tiled in a near-square grid with black gaps: (bytes, (H, W))."""
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    gh, gw = rows * h + (rows + 1) * gap, cols * w + (cols + 1) * gap
    out = bytearray(gh * gw)
    for i in range(n):
        top = gap + (i // cols) * (h + gap)
        left = gap + (i % cols) * (w + gap)
        for y in range(h):
            start = (i * h + y) * w
            at = (top + y) * gw + left
            out[at:at + w] = pixels[start:start + w]
    return bytes(out), (gh, gw)


def parse_size(text):
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError("expected HxW, e.g. 28x28, got %r" % text) from None
    return h, w


def main(argv):
    parser = argparse.ArgumentParser(description="Train a tiny model for a few steps.")
    parser.add_argument("--idx", help="IDX file of training images (default: random 8x8)")
    parser.add_argument("--steps", type=int, default=5, help="optimiser steps (default 5)")
    parser.add_argument("--batch", type=int, default=4, help="images per step (default 4)")
    parser.add_argument("--save", help="save the trained model to this file")
    parser.add_argument("--samples", type=int, default=4,
                        help="images to generate after training (default 4)")
    parser.add_argument("--size", type=parse_size,
                        help="size of the samples, HxW (default: the training images' size)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the samples (default 1)")
    parser.add_argument("--png", default="samples.png",
                        help="PNG file for the grid of samples (default samples.png)")
    args = parser.parse_args(argv)
    if args.steps < 1 or args.batch < 1 or args.samples < 1:
        parser.error("--steps, --batch and --samples must be 1 or more")

    if args.idx:
        images = sp.read_idx(args.idx)
    else:
        images = random_images(4 * args.batch, 8, 8, seed=1)
    n, h, w = images.shape
    if n < args.batch + 1:
        parser.error("need more than %d images, the file has %d" % (args.batch, n))
    # The VAE input side must be a multiple of 4; MNIST's 28 is.
    image_size = max(8, min(h, w) // 4 * 4)

    print("spatialpixelcnn %s (library %s at %s), numpy: %s"
          % (sp.__version__, sp.library_version, sp.library_path, sp.has_numpy()))
    print("training on %d images of %dx%d" % (n, h, w))
    with sp.Model.create(patch_size=8, image_size=image_size, nr_filters=4, nr_resnet=1,
                         nr_mix=2, latent_size=3, batch_size=args.batch, seed=1) as model:
        print(model, "with", model.parameters, "parameters")
        feed = batches(images, args.batch)
        for _ in range(args.steps):
            s = model.train_step(next(feed))
            print("step %3d  bits/dim %.4f  reconstruction %.2f  kl %.3f  lr %.2e  "
                  "grad norm %.3f" % (s["step"], s["bits_per_dim"], s["reconstruction"],
                                      s["kl"], s["learning_rate"], s["grad_norm"]))
        result = model.evaluate(next(feed))
        print("evaluation: %.4f bits/dim over patches, %.4f over whole images, kl %.3f"
              % (result["bpd_patches"], result["bpd_image"], result["kl"]))
        if args.save:
            model.save(args.save)
            print("saved", args.save)

        sh, sw = args.size or (h, w)
        samples = model.generate(args.samples, sh, sw, seed=args.seed)
        pixels, shape = grid(image_bytes(samples), args.samples, sh, sw)
        sp.write_png(args.png, pixels, shape=shape)
        print("wrote %d samples of %dx%d (seed %d, %s schedule) to %s"
              % (args.samples, sh, sw, args.seed, model.schedule, args.png))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
