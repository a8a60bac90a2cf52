"""read_png, write_png and read_idx, with numpy and without, and their argument checks."""

import array
import os
import pathlib
import struct
import unittest

import spatialpixelcnn as sp

import support


def write_idx(path, dims, data, type_code=0x08):
    with open(path, "wb") as f:
        f.write(struct.pack(">BBBB", 0, 0, type_code, len(dims)))
        f.write(struct.pack(">%dI" % len(dims), *dims))
        f.write(data)


class FilesNumpy(support.BothPaths, unittest.TestCase):
    USE_NUMPY = True

    def test_png_round_trip(self):
        for shape in ((1, 1), (5, 3), (17, 29)):
            with self.subTest(shape=shape):
                img = support.images(shape, seed=shape[0], use_numpy=self.USE_NUMPY)
                path = self.path("img.png")
                sp.write_png(path, img)
                back = sp.read_png(path)
                self.assertEqual(support.shape_of(back), shape)
                self.assertEqual(support.flat(back), support.flat(img))
                if self.USE_NUMPY:
                    self.assertEqual(back.dtype, support.NUMPY.uint8)
                else:
                    self.assertIsInstance(back, sp.Raw)
                    self.assertIsInstance(back.data, bytes)

    def test_png_bytes_like_inputs(self):
        data = support.random_bytes(6 * 4, seed=3)
        for obj in (data, bytearray(data), memoryview(data), memoryview(bytearray(data)),
                    array.array("B", data)):
            with self.subTest(kind=type(obj).__name__):
                path = self.path("b.png")
                sp.write_png(path, obj, shape=(6, 4))
                self.assertEqual(support.flat(sp.read_png(path)), list(data))

    def test_png_path_types(self):
        img = support.images((4, 4), seed=1, use_numpy=self.USE_NUMPY)
        path = self.path("p.png")
        sp.write_png(pathlib.Path(path), img)
        self.assertEqual(support.flat(sp.read_png(os.fsencode(path))), support.flat(img))
        with self.assertRaises(TypeError):
            sp.read_png(12)
        with self.assertRaises(ValueError):
            sp.read_png(path + "\0x")
        with self.assertRaises(ValueError):
            sp.read_png("")

    def test_png_errors(self):
        with self.assertRaises(sp.SpcnnIOError) as ctx:
            sp.read_png(self.path("missing.png"))
        self.assertIn("missing.png", ctx.exception.message)
        self.assertEqual(ctx.exception.status, 4)
        not_png = self.path("not.png")
        with open(not_png, "wb") as f:
            f.write(b"this is not a PNG file at all")
        with self.assertRaises(sp.FormatError) as ctx:
            sp.read_png(not_png)
        self.assertIn("not.png", ctx.exception.message)
        with self.assertRaises(sp.SpcnnIOError):
            sp.write_png(self.path("no/such/dir/x.png"), b"\0" * 4, shape=(2, 2))

    def test_wrong_image_arguments(self):
        path = self.path("w.png")
        with self.assertRaisesRegex(TypeError, "shape="):
            sp.write_png(path, b"\0" * 4)
        with self.assertRaisesRegex(ValueError, "needs 6"):
            sp.write_png(path, b"\0" * 4, shape=(2, 3))
        with self.assertRaises(ValueError):
            sp.write_png(path, b"\0" * 4, shape=(4,))
        with self.assertRaises(ValueError):
            sp.write_png(path, b"", shape=(0, 3))
        with self.assertRaises(TypeError):
            sp.write_png(path, b"\0" * 4, shape=(2.0, 2))
        with self.assertRaises(TypeError):
            sp.write_png(path, array.array("f", [0.0] * 4), shape=(2, 2))
        with self.assertRaises(TypeError):
            sp.write_png(path, [[0, 1], [2, 3]])
        with self.assertRaises(TypeError):
            sp.write_png(path, "abcd", shape=(2, 2))
        with self.assertRaises(ValueError):
            sp.write_png(path, sp.Raw(b"\0" * 4, (2, 2, 1)))
        self.assertFalse(os.path.exists(path))

    def test_idx(self):
        data = support.random_bytes(3 * 5 * 4, seed=9)
        path = self.path("x.idx")
        write_idx(path, (3, 5, 4), data)
        got = sp.read_idx(path)
        self.assertEqual(support.shape_of(got), (3, 5, 4))
        self.assertEqual(support.flat(got), list(data))
        labels = self.path("labels.idx")
        write_idx(labels, (6,), bytes(range(6)))
        got = sp.read_idx(labels)
        self.assertEqual(support.shape_of(got), (6, 1, 1))
        self.assertEqual(support.flat(got), list(range(6)))

    def test_idx_errors(self):
        with self.assertRaises(sp.SpcnnIOError):
            sp.read_idx(self.path("missing.idx"))
        bad = self.path("bad.idx")
        write_idx(bad, (2, 2, 2), b"\0" * 8, type_code=0x0D)  # floats, not unsigned bytes
        with self.assertRaises(sp.FormatError):
            sp.read_idx(bad)
        short = self.path("short.idx")
        write_idx(short, (2, 2, 2), b"\0" * 7)
        with self.assertRaises(sp.FormatError) as ctx:
            sp.read_idx(short)
        self.assertIn("short.idx", ctx.exception.message)


@unittest.skipIf(support.NUMPY is None, "numpy is not available")
class FilesNumpyOnly(support.BothPaths, unittest.TestCase):
    USE_NUMPY = True

    def test_numpy_arguments(self):
        np = support.NUMPY
        path = self.path("n.png")
        with self.assertRaisesRegex(TypeError, "uint8"):
            sp.write_png(path, np.zeros((2, 2), dtype=np.float32))
        with self.assertRaisesRegex(ValueError, "2 dimensions"):
            sp.write_png(path, np.zeros((1, 2, 2), dtype=np.uint8))
        # A strided view is copied to contiguous memory, not misread.
        img = np.arange(48, dtype=np.uint8).reshape(6, 8)
        sp.write_png(path, img[::2, 1::3])
        self.assertTrue((sp.read_png(path) == img[::2, 1::3]).all())
        # Fortran order too.
        sp.write_png(path, np.asfortranarray(img))
        self.assertTrue((sp.read_png(path) == img).all())


class FilesNoNumpy(FilesNumpy):
    USE_NUMPY = False


if __name__ == "__main__":
    unittest.main()
