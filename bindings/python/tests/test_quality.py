"""msssim, msssim_pairs and resize_area, with numpy and without, and their argument checks."""

import math
import unittest

import spatialpixelcnn as sp

import support


def hash8(r, c, seed):
    v = (r * 7919 + c * 104729 + seed * 1299709) & 0xFFFFFFFF
    v = (v * 2654435761) & 0xFFFFFFFF
    v ^= v >> 15
    v = (v * 2246822519) & 0xFFFFFFFF
    v ^= v >> 13
    return v >> 24


def ring_image(h, w, seed, noise):
    """The test image of tests/test_msssim.c and tests/ref/msssim_reference.py, as bytes."""
    out = bytearray(h * w)
    cy, cx = h // 2, w // 2
    r1, r2 = (min(h, w) * 2 // 10) ** 2, (min(h, w) * 4 // 10) ** 2
    for r in range(h):
        for c in range(w):
            d2 = (r - cy) ** 2 + (c - cx) ** 2
            v = (r * 5 + c * 3) % 64 + (180 if r1 <= d2 <= r2 else 0)
            v += hash8(r, c, seed) % (2 * noise + 1) - noise
            out[r * w + c] = min(max(v, 0), 255)
    return bytes(out)


class QualityNumpy(support.BothPaths, unittest.TestCase):
    USE_NUMPY = True

    def image(self, data, shape):
        if self.USE_NUMPY:
            return support.NUMPY.frombuffer(data, dtype=support.NUMPY.uint8).reshape(shape)
        return sp.Raw(data, shape)

    def test_msssim_pinned(self):
        # Values from tests/ref/msssim_reference.py (numpy); 23 x 37 checks the order of h, w.
        worst = 0.0
        for h, w, sa, sb, noise, want in ((28, 28, 1, 2, 10, 0.99832516216580025),
                                          (23, 37, 5, 6, 25, 0.99158737319640633)):
            a = self.image(ring_image(h, w, sa, noise), (h, w))
            b = self.image(ring_image(h, w, sb, noise), (h, w))
            got = sp.msssim(a, b)
            self.assertIsInstance(got, float)
            self.assertAlmostEqual(got, want, delta=1e-12)
            self.assertEqual(sp.msssim(b, a), got)
            worst = max(worst, abs(got - want))
        support.report("msssim against numpy (pinned)", worst, 1e-12)

    def test_msssim_identical_and_noisier(self):
        data = ring_image(28, 28, 3, 20)
        a = self.image(data, (28, 28))
        self.assertEqual(sp.msssim(a, self.image(bytes(data), (28, 28))), 1.0)
        brighter = bytes(min(v + 30, 255) for v in data)
        value = sp.msssim(a, self.image(brighter, (28, 28)))
        self.assertTrue(0.0 < value < 1.0, value)
        negative = bytes(255 - v for v in data)
        self.assertEqual(sp.msssim(a, self.image(negative, (28, 28))), 0.0)

    def test_msssim_bytes_like(self):
        data = ring_image(16, 20, 4, 30)
        other = ring_image(16, 20, 5, 30)
        want = sp.msssim(sp.Raw(data, (16, 20)), sp.Raw(other, (16, 20)))
        for obj in (data, bytearray(data), memoryview(data)):
            with self.subTest(kind=type(obj).__name__):
                self.assertEqual(sp.msssim(obj, other, shape=(16, 20)), want)

    def test_msssim_pairs(self):
        n, h, w = 6, 20, 24
        data = b"".join(ring_image(h, w, 10 + i, 15 * i) for i in range(n))
        images = self.image(data, (n, h, w))
        mean, std = sp.msssim_pairs(images)
        values = [sp.msssim(data[i * h * w:(i + 1) * h * w], data[j * h * w:(j + 1) * h * w],
                            shape=(h, w))
                  for i in range(n) for j in range(i + 1, n)]
        want_mean = sum(values) / len(values)
        want_std = math.sqrt(sum((v - want_mean) ** 2 for v in values) / len(values))
        err = max(abs(mean - want_mean), abs(std - want_std))
        support.report("msssim_pairs against a loop over pairs", err, 1e-14)
        self.assertLessEqual(err, 1e-14)
        self.assertEqual(sp.msssim_pairs(images, threads=2), (mean, std))
        self.assertEqual(sp.msssim_pairs(data, threads=0, shape=(n, h, w)), (mean, std))

    def test_resize_area(self):
        data = support.random_bytes(56 * 56, seed=5)
        small = sp.resize_area(self.image(data, (56, 56)), 28, 28)
        self.assertEqual(support.shape_of(small), (28, 28))
        got = support.flat(small)
        for r in range(28):
            for c in range(28):
                s = (data[2 * r * 56 + 2 * c] + data[2 * r * 56 + 2 * c + 1]
                     + data[(2 * r + 1) * 56 + 2 * c] + data[(2 * r + 1) * 56 + 2 * c + 1])
                self.assertEqual(got[r * 28 + c], (s + 2) // 4)
        # Non-square, and up: each pixel of a 2 x 3 image becomes a 2 x 2 block of 4 x 6.
        tiny = bytes([10, 20, 30, 40, 50, 60])
        big = sp.resize_area(tiny, 4, 6, shape=(2, 3))
        self.assertEqual(support.shape_of(big), (4, 6))
        self.assertEqual(support.flat(big)[:6], [10, 10, 20, 20, 30, 30])
        self.assertEqual(support.flat(big)[18:], [40, 40, 50, 50, 60, 60])
        back = sp.resize_area(big, 2, 3)
        self.assertEqual(support.flat(back), list(tiny))
        if not self.USE_NUMPY:
            self.assertIsInstance(back, sp.Raw)
            self.assertIsInstance(back.data, bytes)

    def test_errors(self):
        a = self.image(bytes(15 * 28), (15, 28))
        with self.assertRaises(sp.InvalidArgumentError) as ctx:
            sp.msssim(a, a)
        self.assertIn("at least 16 x 16", ctx.exception.message)
        b = self.image(bytes(28 * 28), (28, 28))
        with self.assertRaisesRegex(ValueError, "differ in shape"):
            sp.msssim(b, self.image(bytes(28 * 29), (28, 29)))
        with self.assertRaises(TypeError):
            sp.msssim(b, [[0] * 28] * 28)
        with self.assertRaises(ValueError):
            sp.msssim(b"\0" * 10, b"\0" * 10, shape=(2, 3))
        one = self.image(bytes(28 * 28), (1, 28, 28))
        with self.assertRaises(sp.InvalidArgumentError) as ctx:
            sp.msssim_pairs(one)
        self.assertIn("at least 2", ctx.exception.message)
        two = self.image(bytes(2 * 28 * 28), (2, 28, 28))
        with self.assertRaises(TypeError):
            sp.msssim_pairs(two, threads=True)
        with self.assertRaises(TypeError):
            sp.msssim_pairs(two, threads=1.0)
        for threads in (-1, 257):
            with self.assertRaises(sp.InvalidArgumentError):
                sp.msssim_pairs(two, threads=threads)
        with self.assertRaises(ValueError):
            sp.msssim_pairs(two, threads=1 << 40)
        with self.assertRaises(ValueError):
            sp.msssim_pairs(b)  # (h, w) is not (n, h, w)
        with self.assertRaises(ValueError):
            sp.resize_area(b, 0, 4)
        with self.assertRaises(TypeError):
            sp.resize_area(b, 2.0, 4)


class QualityNoNumpy(QualityNumpy):
    USE_NUMPY = False


if __name__ == "__main__":
    unittest.main()
