#!/usr/bin/python3
"""Independent MS-SSIM values pinned in tests/test_msssim.c (numpy only; run by hand).

    /usr/bin/python3 tests/ref/msssim_reference.py

It follows the algorithm of the reference implementation the GAN literature uses for its
diversity measure (tensorflow/models, research/compression/image_encoder/msssim.py,
MultiScaleSSIM), written afresh with numpy and no scipy:
  - images as float64; 5 scales with weights 0.0448, 0.2856, 0.3001, 0.2363, 0.1333;
  - at each scale a 2-D Gaussian window of side n = min(11, h, w) and sigma = 1.5 n / 11, laid
    out like MATLAB's fspecial (offsets k - (n-1)/2), normalised to sum 1, applied 'valid'
    (no padding) to x, y, x*x, y*y and x*y;
  - sigma_x^2 = E[x^2] - mu_x^2 (likewise y, xy), C1 = (0.01*255)^2, C2 = (0.03*255)^2,
    cs = mean((2 sigma_xy + C2) / (sigma_x^2 + sigma_y^2 + C2)),
    ssim = mean((2 mu_x mu_y + C1)(2 sigma_xy + C2) / ((mu_x^2 + mu_y^2 + C1)(sigma_x^2 +
    sigma_y^2 + C2)));
  - between scales the reference convolves with a 2x2 box of 1/4 (scipy mode 'reflect', i.e.
    numpy pad mode 'symmetric') and keeps every second row and column: the mean of each 2x2
    block, an odd last row or column averaged with itself, so a side s becomes ceil(s / 2);
  - result = prod_{j<5} cs_j^{w_j} * ssim_5^{w_5}, with cs_j and ssim_5 clamped at 0 first (as
    tf.image.ssim_multiscale does with relu; the reference itself would give NaN there).
The window sums are computed directly (sliding windows), not by FFT as the reference does, and
the mean-of-products form above differs in rounding from the library's: agreement to ~1e-13
is what to expect. The test images are integer formulas that tests/test_msssim.c repeats.
"""

import numpy as np

WEIGHTS = [0.0448, 0.2856, 0.3001, 0.2363, 0.1333]
C1 = (0.01 * 255) ** 2
C2 = (0.03 * 255) ** 2


def window(n):
    sigma = 1.5 * n / 11
    x = np.arange(n) - (n - 1) / 2.0
    xx, yy = np.meshgrid(x, x, indexing="ij")
    g = np.exp(-(xx ** 2 + yy ** 2) / (2 * sigma ** 2))
    return g / g.sum()


def filter_valid(img, g):
    n = g.shape[0]
    views = np.lib.stride_tricks.sliding_window_view(img, (n, n))
    return np.einsum("ijkl,kl->ij", views, g)


def ssim_cs(x, y):
    n = min(11, x.shape[0], x.shape[1])
    g = window(n)
    mx, my = filter_valid(x, g), filter_valid(y, g)
    sxx = filter_valid(x * x, g) - mx * mx
    syy = filter_valid(y * y, g) - my * my
    sxy = filter_valid(x * y, g) - mx * my
    v1 = 2 * sxy + C2
    v2 = sxx + syy + C2
    ssim = np.mean((2 * mx * my + C1) * v1 / ((mx * mx + my * my + C1) * v2))
    return ssim, np.mean(v1 / v2)


def downsample(x):
    p = np.pad(x, ((0, 1), (0, 1)), mode="symmetric")
    box = (p[:-1, :-1] + p[1:, :-1] + p[:-1, 1:] + p[1:, 1:]) / 4.0
    return box[::2, ::2]


def msssim(a, b, verbose=False):
    x, y = a.astype(np.float64), b.astype(np.float64)
    value = 1.0
    for j, w in enumerate(WEIGHTS):
        ssim, cs = ssim_cs(x, y)
        if verbose:
            print("    scale %d: %dx%d ssim %.17g cs %.17g" % (j + 1, x.shape[0], x.shape[1],
                                                          ssim, cs))
        term = ssim if j == len(WEIGHTS) - 1 else cs
        value *= max(term, 0.0) ** w
        x, y = downsample(x), downsample(y)
    return value


# ---- the test images of tests/test_msssim.c (integer arithmetic only) ---------------------

def hash8(r, c, seed):
    v = (r * 7919 + c * 104729 + seed * 1299709) & 0xFFFFFFFF
    v = (v * 2654435761) & 0xFFFFFFFF
    v ^= v >> 15
    v = (v * 2246822519) & 0xFFFFFFFF
    v ^= v >> 13
    return v >> 24


def test_image(h, w, seed, noise):
    """A ring on a gradient, plus uniform integer noise in [-noise, noise], clamped."""
    img = np.zeros((h, w), dtype=np.uint8)
    cy, cx = h // 2, w // 2
    r1, r2 = (min(h, w) * 2 // 10) ** 2, (min(h, w) * 4 // 10) ** 2
    for r in range(h):
        for c in range(w):
            d2 = (r - cy) ** 2 + (c - cx) ** 2
            v = (r * 5 + c * 3) % 64 + (180 if r1 <= d2 <= r2 else 0)
            v += hash8(r, c, seed) % (2 * noise + 1) - noise
            img[r, c] = min(max(v, 0), 255)
    return img


CASES = [  # (name, h, w, seed a, seed b, noise)
    ("28x28 noise 10", 28, 28, 1, 2, 10),
    ("56x56 noise 40", 56, 56, 3, 4, 40),
    ("23x37 noise 25", 23, 37, 5, 6, 25),
    ("16x16 noise 60", 16, 16, 7, 8, 60),
    ("28x28 noise 127", 28, 28, 9, 10, 127),
]

if __name__ == "__main__":
    for name, h, w, sa, sb, noise in CASES:
        a, b = test_image(h, w, sa, noise), test_image(h, w, sb, noise)
        print("%s: sum a = %d, sum b = %d, sum a*b = %d" % (
            name, int(a.sum()), int(b.sum()), int((a.astype(np.int64) * b).sum())))
        print("  msssim = %.17g" % msssim(a, b, verbose=True))
    # Less alike: an image against its own transpose (the gradient and the noise move).
    a = test_image(28, 28, 11, 60)
    print("28x28 noise 60 against its transpose: sum a = %d" % int(a.sum()))
    print("  msssim = %.17g" % msssim(a, a.T.copy(), verbose=True))
    # Anticorrelated: an image against its negative; cs_1 < 0 is clamped, the value is 0.
    print("28x28 noise 10 against 255 - itself:")
    a = test_image(28, 28, 1, 10)
    print("  msssim = %.17g" % msssim(a, 255 - a, verbose=True))
