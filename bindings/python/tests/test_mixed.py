"""Model.train_step_mixed: a batch of images of different sizes; the same statistics as
train_step on images of one size; wrong arguments."""

import math
import unittest

import spatialpixelcnn as sp

import support

TINY = support.TINY


class MixedNumpy(support.BothPaths, unittest.TestCase):
    USE_NUMPY = True

    def setUp(self):
        super().setUp()
        self.model = sp.Model.create(**TINY)
        self.addCleanup(self.model.close)

    def image(self, h, w, seed):
        return support.images((h, w), seed, self.USE_NUMPY)

    def test_mixed_sizes(self):
        sizes = [(8, 8), (12, 9), (20, 16), (9, 30)]
        for step in range(3):
            batch = [self.image(h, w, 40 + 10 * step + i) for i, (h, w) in enumerate(sizes)]
            stats = self.model.train_step_mixed(batch)
            self.assertTrue(support.finite(stats.values()), stats)
            self.assertEqual(stats["step"], step + 1)
        self.assertEqual(self.model.images_seen, 12)

    def test_same_size_equals_train_step(self):
        other = sp.Model.create(**TINY)
        self.addCleanup(other.close)
        for step in range(3):
            batch = support.images((4, 12, 10), 60 + step, self.USE_NUMPY)
            if self.USE_NUMPY:
                images = [batch[i] for i in range(4)]
            else:
                images = [(batch.data[i * 120:(i + 1) * 120], (12, 10)) for i in range(4)]
            a = self.model.train_step(batch)
            b = other.train_step_mixed(images)
            self.assertEqual(a, b)  # every statistic, bit for bit
        print("train_step and train_step_mixed: %.6f bits/dim after 3 steps"
              % a["bits_per_dim"])

    def test_bytes_like_pairs(self):
        data = support.random_bytes(10 * 11, seed=5)
        for obj in (data, bytearray(data), memoryview(data)):
            s = self.model.train_step_mixed([(obj, (10, 11)), (data[:64], (8, 8))])
            self.assertTrue(math.isfinite(s["bits_per_dim"]))

    def test_wrong_images(self):
        with self.assertRaises(ValueError):
            self.model.train_step_mixed([])
        with self.assertRaises(TypeError):
            self.model.train_step_mixed(b"\0" * 64)
        with self.assertRaises(TypeError):
            self.model.train_step_mixed([b"\0" * 64])  # no shape
        with self.assertRaises(ValueError):
            self.model.train_step_mixed([(b"\0" * 63, (8, 8))])
        with self.assertRaises(sp.InvalidArgumentError) as cm:
            self.model.train_step_mixed([self.image(8, 8, 1), self.image(7, 20, 2)])
        self.assertIn("image 1 of the batch is 7x20", str(cm.exception))
        self.assertEqual(self.model.step, 0)


class MixedNoNumpy(MixedNumpy):
    USE_NUMPY = False


if __name__ == "__main__":
    unittest.main()
