"""Classifier: creation, training on a synthetic task, prediction, save/load, errors, close."""

import os
import random
import unittest

import spatialpixelcnn as sp

import support

S = 16
CLASSES = 4


def bars(n, seed):
    """n images of a bar (class 0 horizontal, 1 vertical, 2 diagonal, 3 anti-diagonal) at a
    random offset with noise, and their labels: (bytes, list of ints)."""
    rng = random.Random(seed)
    pixels, labels = bytearray(), []
    for _ in range(n):
        cls, off = rng.randrange(CLASSES), rng.randrange(-4, 5)
        for y in range(S):
            for x in range(S):
                d = [y - S // 2 - off, x - S // 2 - off, x - y - off, x + y - S - off][cls]
                pixels.append(max(0, min(255, (220 if abs(d) <= 1 else 20) + rng.randint(-20, 20))))
        labels.append(cls)
    return bytes(pixels), labels


def rows(probs):
    """The rows of a predict result (numpy array or list of lists) as lists of floats."""
    return [[float(v) for v in row] for row in probs]


class ClassifierNumpy(support.BothPaths, unittest.TestCase):
    USE_NUMPY = True

    def setUp(self):
        super().setUp()
        self.c = sp.Classifier.create(S, S, CLASSES, seed=3)
        self.addCleanup(self.c.close)

    def batch(self, n, seed):
        pixels, labels = bars(n, seed)
        if self.USE_NUMPY:
            np = support.NUMPY
            images = np.frombuffer(pixels, dtype=np.uint8).reshape(n, S, S).copy()
            return images, np.array(labels, dtype=np.uint8)
        return sp.Raw(pixels, (n, S, S)), labels

    def test_shape_and_repr(self):
        self.assertEqual(self.c.shape, (S, S, CLASSES))
        self.assertEqual((self.c.height, self.c.width, self.c.classes), (S, S, CLASSES))
        self.assertIn("16x16 images, 4 classes", repr(self.c))

    def test_training_learns(self):
        first = None
        for step in range(80):
            images, labels = self.batch(32, seed=step)
            stats = self.c.train_step(images, labels)
            self.assertEqual(sorted(stats), ["accuracy", "loss"])
            first = first if first is not None else stats
        images, labels = self.batch(100, seed=1000)
        probs = self.c.predict(images)
        if self.USE_NUMPY:
            self.assertEqual(probs.shape, (100, CLASSES))
            self.assertEqual(str(probs.dtype), "float32")
        right = 0
        for row, label in zip(rows(probs), list(labels)):
            self.assertAlmostEqual(sum(row), 1.0, places=5)
            right += max(range(CLASSES), key=row.__getitem__) == int(label)
        print("classifier: loss %.3f -> %.3f, held-out accuracy %d %%"
              % (first["loss"], stats["loss"], right))
        self.assertLess(stats["loss"], first["loss"])
        self.assertGreaterEqual(right, 90)

    def test_inputs(self):
        pixels, labels = bars(8, seed=1)
        # bytes-like images with a shape; labels as bytes, a list, a tuple or a Raw.
        for lab in (bytes(labels), labels, tuple(labels), sp.Raw(bytes(labels), (8, 1, 1))):
            stats = self.c.train_step(pixels, lab, shape=(8, S, S))
            self.assertTrue(support.finite(stats.values()))
        probs = self.c.predict(bytearray(pixels), shape=(8, S, S))
        self.assertEqual(len(rows(probs)), 8)
        with self.assertRaisesRegex(ValueError, "7 labels given for 8 images"):
            self.c.train_step(pixels, labels[:7], shape=(8, S, S))
        with self.assertRaisesRegex(ValueError, r"\[0, 255\]"):
            self.c.train_step(pixels, [300] * 8, shape=(8, S, S))
        with self.assertRaises(TypeError):
            self.c.train_step(pixels, 3, shape=(8, S, S))
        with self.assertRaisesRegex(ValueError, "takes 16x16 images, got 8x32"):
            self.c.predict(pixels, shape=(8, 8, 32))
        with self.assertRaises(ValueError):
            self.c.predict(pixels, shape=(S, S))
        # The library's own checks: a label not below the number of classes.
        with self.assertRaises(sp.InvalidArgumentError) as ctx:
            self.c.train_step(pixels, [0] * 7 + [CLASSES], shape=(8, S, S))
        self.assertIn("label 4 of image 7 is not below the 4 classes", ctx.exception.message)

    def test_save_load(self):
        images, labels = self.batch(70, seed=5)
        for _ in range(3):
            self.c.train_step(images, labels)
        path = self.path("c.spcls")
        self.c.save(path)
        with sp.Classifier.load(path) as loaded:
            self.assertEqual(loaded.shape, self.c.shape)
            self.assertEqual(rows(loaded.predict(images)), rows(self.c.predict(images)))
        with open(path, "r+b") as f:
            f.seek(40)
            byte = f.read(1)
            f.seek(40)
            f.write(bytes([byte[0] ^ 1]))
        with self.assertRaises(sp.FormatError) as ctx:
            sp.Classifier.load(path)
        self.assertIn("checksum mismatch", ctx.exception.message)
        with self.assertRaises(sp.SpcnnIOError):
            sp.Classifier.load(self.path("missing.spcls"))

    def test_create_errors_and_close(self):
        with self.assertRaises(sp.InvalidArgumentError) as ctx:
            sp.Classifier.create(8, 28, 10)
        self.assertIn("8x28", ctx.exception.message)
        with self.assertRaises(sp.InvalidArgumentError):
            sp.Classifier.create(28, 28, 1)
        with self.assertRaises(ValueError):
            sp.Classifier.create(28, -1, 10)
        with self.assertRaises(TypeError):
            sp.Classifier.create(28.0, 28, 10)
        with self.assertRaises(TypeError):
            sp.Classifier()
        self.c.set_threads(2)
        self.c.set_threads(1)
        with self.assertRaises(sp.InvalidArgumentError):
            self.c.set_threads(0)
        with self.assertRaises(TypeError):
            self.c.set_threads("2")
        with sp.Classifier.create(12, 12, 2) as c:
            self.assertFalse(c.closed)
        self.assertTrue(c.closed)
        c.close()  # idempotent
        with self.assertRaises(sp.ClosedError):
            c.predict(b"\0" * 144, shape=(1, 12, 12))
        with self.assertRaises(sp.ClosedError):
            with c:
                pass
        self.assertIn("closed", repr(c))

    def test_shipped_models(self):
        for name in ("lenet-mnist.spcls", "lenet-fashion-mnist.spcls"):
            path = os.path.join(support.REPO, "models", name)
            if not os.path.exists(path):
                self.skipTest("%s is not in this checkout" % path)
            with sp.Classifier.load(path) as c:
                self.assertEqual(c.shape, (28, 28, 10))
                probs = rows(c.predict(bytes(2 * 28 * 28), shape=(2, 28, 28)))
                self.assertEqual(len(probs), 2)
                self.assertAlmostEqual(sum(probs[0]), 1.0, places=5)


class ClassifierNoNumpy(ClassifierNumpy):
    USE_NUMPY = False


if __name__ == "__main__":
    unittest.main()
