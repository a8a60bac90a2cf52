"""Generation: generate, generate_stream, sample_patch, reconstruct, the sampling options, and
the bytes of the C program `spcnn sample` for the same model file and seed."""

import array
import ctypes
import os
import re
import traceback
import unittest

import spatialpixelcnn as sp
from spatialpixelcnn import _ffi

import support
from support import pixels_of, trained_model

TINY = support.TINY  # patch_size 8, image_size 8, nr_filters 4, nr_resnet 1, nr_mix 2, L = 3
M = TINY["patch_size"]
H = W = 12  # larger than a patch: many windows per image


class GenerateNumpy(support.BothPaths, unittest.TestCase):
    USE_NUMPY = True

    def setUp(self):
        super().setUp()
        self.model = trained_model(self.USE_NUMPY)
        self.addCleanup(self.model.close)

    def image_of(self, batch, i):
        """Image i of an (n, h, w) result, as bytes."""
        n, h, w = support.shape_of(batch)
        return pixels_of(batch)[i * h * w:(i + 1) * h * w]

    # ---- generate -------------------------------------------------------------------------------

    def test_shape_and_type(self):
        out = self.model.generate(2, H, W, seed=5)
        self.assertEqual(support.shape_of(out), (2, H, W))
        if self.USE_NUMPY:
            self.assertEqual(out.dtype, support.NUMPY.uint8)
        else:
            self.assertIsInstance(out, sp.Raw)
            self.assertIsInstance(out.data, bytes)
            self.assertEqual(len(out.data), 2 * H * W)
        # Not a constant image: the draws are really random.
        self.assertGreater(len(set(pixels_of(out))), 4)
        # The smallest size is one patch; sides need not be equal.
        self.assertEqual(support.shape_of(self.model.generate(1, M, M)), (1, M, M))
        self.assertEqual(support.shape_of(self.model.generate(1, H + 1, M + 1)), (1, H + 1, M + 1))

    def test_same_seed_same_bytes(self):
        a = pixels_of(self.model.generate(2, H, W, seed=11))
        b = pixels_of(self.model.generate(2, H, W, seed=11))
        c = pixels_of(self.model.generate(2, H, W, seed=12))
        self.assertEqual(a, b)
        self.assertNotEqual(a, c)
        differ = sum(x != y for x, y in zip(a, c))
        print("seed 11 vs 12: %d of %d pixels differ" % (differ, len(a)))
        # The whole uint64 range of seeds is accepted.
        top = pixels_of(self.model.generate(1, M, M, seed=2**64 - 1))
        self.assertEqual(top, pixels_of(self.model.generate(1, M, M, seed=2**64 - 1)))

    def test_schedules_give_the_same_bytes(self):
        self.assertEqual(self.model.schedule, "wavefront")  # the default
        wave = pixels_of(self.model.generate(2, H, W + 3, seed=3))
        self.model.schedule = "raster"
        self.assertEqual(self.model.schedule, "raster")
        self.assertEqual(self.model.config["schedule"], 0)
        raster = pixels_of(self.model.generate(2, H, W + 3, seed=3))
        worst = sum(x != y for x, y in zip(wave, raster))
        support.report("raster vs wavefront, pixels that differ", worst, 0)
        self.assertEqual(raster, wave)
        self.model.set_option("schedule", 1)
        self.assertEqual(self.model.schedule, "wavefront")

    def test_image_does_not_depend_on_the_batch(self):
        one = self.model.generate(1, H, W, seed=21)
        two = self.model.generate(2, H, W, seed=21)
        three = self.model.generate(3, H, W, seed=21)
        self.assertEqual(self.image_of(two, 0), self.image_of(one, 0))
        self.assertEqual(self.image_of(three, 0), self.image_of(one, 0))
        self.assertEqual(self.image_of(three, 1), self.image_of(two, 1))
        self.assertNotEqual(self.image_of(two, 0), self.image_of(two, 1))
        # spcnn_model_generate_image is image 0 of spcnn_model_generate_images.
        buf = (ctypes.c_uint8 * (H * W))()
        with self.model._calling() as ptr:
            _ffi.lib.spcnn_model_generate_image(ptr, None, H, W, 21, buf, H * W)
        self.assertEqual(bytes(buf), self.image_of(one, 0))
        small = (ctypes.c_uint8 * (H * W - 1))()
        with self.model._calling() as ptr:
            with self.assertRaises(sp.BufferTooSmallError):
                _ffi.lib.spcnn_model_generate_image(ptr, None, H, W, 21, small, H * W - 1)

    def test_threads_do_not_change_the_bytes(self):
        before = pixels_of(self.model.generate(2, H, W, seed=8))
        self.model.set_option("threads", 2)
        self.assertEqual(self.model.config["threads"], 2)
        self.assertEqual(pixels_of(self.model.generate(2, H, W, seed=8)), before)

    def test_z(self):
        z = [[0.5, -1.0, 2.0], [-0.25, 0.0, 1.5]]
        nested = pixels_of(self.model.generate(2, H, W, seed=4, z=z))
        flat = pixels_of(self.model.generate(2, H, W, seed=4, z=z[0] + z[1]))
        self.assertEqual(flat, nested)
        self.assertEqual(pixels_of(self.model.generate(2, H, W, seed=4,
                                                       z=(array.array("f", z[0]), tuple(z[1])))),
                         nested)
        if self.USE_NUMPY:
            arr = support.NUMPY.array(z, dtype=support.NUMPY.float32)
            self.assertEqual(pixels_of(self.model.generate(2, H, W, seed=4, z=arr)), nested)
            self.assertEqual(pixels_of(self.model.generate(2, H, W, seed=4, z=list(arr))),
                             nested)
            with self.assertRaisesRegex(ValueError, r"\(2, 3\)"):
                self.model.generate(2, H, W, z=arr.T)
        # z is used: a far-away z gives another image than the drawn one.
        drawn = pixels_of(self.model.generate(2, H, W, seed=4))
        self.assertNotEqual(nested, drawn)
        # Image 0 with its own z is the same alone and in a batch.
        alone = pixels_of(self.model.generate(1, H, W, seed=4, z=[z[0]]))
        self.assertEqual(alone, nested[:H * W])
        with self.assertRaisesRegex(ValueError, "6 floats"):
            self.model.generate(2, H, W, z=[0.0] * 5)
        with self.assertRaisesRegex(ValueError, "2 vectors of 3"):
            self.model.generate(2, H, W, z=[[0.0] * 3])
        with self.assertRaises(TypeError):
            self.model.generate(1, H, W, z=[None, None, None])
        with self.assertRaises(TypeError):
            self.model.generate(1, H, W, z="abc")
        with self.assertRaises(sp.InvalidArgumentError) as ctx:
            self.model.generate(1, H, W, z=[float("nan"), 0.0, 0.0])
        self.assertIn("finite", ctx.exception.message)

    def test_argument_errors(self):
        for bad in (0, -1):
            with self.assertRaises(ValueError):
                self.model.generate(bad, H, W)
        with self.assertRaises(TypeError):
            self.model.generate(1.0, H, W)
        with self.assertRaises(TypeError):
            self.model.generate(True, H, W)
        for seed in (-1, 2**64):
            with self.assertRaisesRegex(ValueError, "seed"):
                self.model.generate(1, H, W, seed=seed)
        with self.assertRaises(TypeError):
            self.model.generate(1, H, W, seed=1.5)
        # Smaller than a patch: the library refuses, with its message.
        with self.assertRaises(sp.InvalidArgumentError) as ctx:
            self.model.generate(1, M - 1, W)
        self.assertTrue(ctx.exception.message)

    # ---- progress and cancelling ----------------------------------------------------------------

    def test_progress(self):
        seen = []
        out = self.model.generate(2, H, W, seed=6, progress=seen.append)
        self.assertEqual(pixels_of(out), pixels_of(self.model.generate(2, H, W, seed=6)))
        self.assertTrue(seen)
        self.assertEqual(seen, sorted(seen))
        self.assertTrue(all(0.0 <= f <= 1.0 for f in seen), seen)
        calls = []

        def stop(fraction):
            calls.append(fraction)
            return fraction > 0.3

        with self.assertRaises(sp.CancelledError) as ctx:
            self.model.generate(2, H, W, seed=6, progress=stop)
        self.assertEqual(ctx.exception.status, 10)
        self.assertGreater(calls[-1], 0.3)
        self.assertEqual(sum(f > 0.3 for f in calls), 1)  # no call after the cancel
        # Removed after the call: the next one runs to the end.
        self.assertEqual(pixels_of(self.model.generate(2, H, W, seed=6)), pixels_of(out))

    def test_progress_exception_is_reraised(self):
        class Boom(Exception):
            pass

        def explode(fraction):
            raise Boom("progress %g" % fraction)

        self.assertRaisedFrom(Boom, "explode", self.model.generate, 1, H, W, progress=explode)
        with self.assertRaises(Boom):
            self.model.reconstruct(support.images((8, 8), 1, self.USE_NUMPY), H, W,
                                   progress=explode)

    def assertRaisedFrom(self, cls, function, call, *args, **kwargs):
        """call raises cls, with its traceback still reaching into the callback `function`
        (assertRaises would clear the traceback)."""
        try:
            call(*args, **kwargs)
        except cls as exc:
            names = [frame.name for frame in traceback.extract_tb(exc.__traceback__)]
            self.assertIn(function, names)
            return exc
        self.fail("the callback's %s was lost" % cls.__name__)

    # ---- generate_stream ------------------------------------------------------------------------

    def test_stream_rows_equal_generate(self):
        rows = []
        result = self.model.generate_stream(2, H, W + 1, lambda i, y, row: rows.append((i, y, row)),
                                            seed=13)
        self.assertIsNone(result)
        self.assertEqual(len(rows), 2 * H)
        for image in range(2):
            self.assertEqual([y for i, y, _ in rows if i == image], list(range(H)))
        for _, _, row in rows:
            if self.USE_NUMPY:
                self.assertIsInstance(row, support.NUMPY.ndarray)
                self.assertEqual((row.dtype, row.shape), (support.NUMPY.uint8, (W + 1,)))
            else:
                self.assertIsInstance(row, bytes)
                self.assertEqual(len(row), W + 1)
        assembled = bytearray(2 * H * (W + 1))
        for i, y, row in rows:
            start = (i * H + y) * (W + 1)
            assembled[start:start + W + 1] = bytes(row)
        expected = pixels_of(self.model.generate(2, H, W + 1, seed=13))
        support.report("generate_stream vs generate, pixels that differ",
                       sum(a != b for a, b in zip(assembled, expected)), 0)
        self.assertEqual(bytes(assembled), expected)
        # With a given z too.
        z = [0.1, 0.2, 0.3, -1.0, 1.0, 0.5]
        rows = {}
        self.model.generate_stream(2, H, W, lambda i, y, row: rows.__setitem__((i, y), bytes(row)),
                                   seed=2, z=z)
        streamed = b"".join(rows[i, y] for i in range(2) for y in range(H))
        self.assertEqual(streamed, pixels_of(self.model.generate(2, H, W, seed=2, z=z)))

    def test_stream_cancel(self):
        calls = []

        def sink(image, y, row):
            calls.append((image, y))
            return len(calls) == 3

        with self.assertRaises(sp.CancelledError) as ctx:
            self.model.generate_stream(2, H, W, sink, seed=1)
        self.assertEqual(ctx.exception.status, 10)
        self.assertEqual(len(calls), 3)  # no row after the cancel
        calls.clear()
        with self.assertRaises(sp.CancelledError):
            self.model.generate_stream(2, H, W, lambda *a: None, progress=lambda f: f > 0.5)
        # The model works normally afterwards.
        self.assertEqual(support.shape_of(self.model.generate(1, H, W)), (1, H, W))

    def test_stream_exception_is_reraised(self):
        class Boom(Exception):
            pass

        def explode(image, y, row):
            if y == 2:
                raise Boom("row %d" % y)

        exc = self.assertRaisedFrom(Boom, "explode", self.model.generate_stream, 1, H, W,
                                    explode)
        self.assertEqual(str(exc), "row 2")

        def interrupt(image, y, row):
            raise KeyboardInterrupt

        with self.assertRaises(KeyboardInterrupt):
            self.model.generate_stream(1, H, W, interrupt)
        with self.assertRaises(TypeError):
            self.model.generate_stream(1, H, W, 42)
        # Calling the same model from its row callback is refused, not a deadlock.
        with self.assertRaisesRegex(RuntimeError, "re-entrant"):
            self.model.generate_stream(1, H, W, lambda i, y, row: self.model.step)

    # ---- sample_patch ---------------------------------------------------------------------------

    def test_sample_patch_is_the_corner_of_generate(self):
        z = [0.3, -0.5, 1.2]
        patch = self.model.sample_patch(H, W, 0, 0, seed=9, z=z)
        self.assertEqual(support.shape_of(patch), (M, M))
        if not self.USE_NUMPY:
            self.assertIsInstance(patch.data, bytes)
        image = pixels_of(self.model.generate(1, H, W, seed=9, z=[z]))
        corner = b"".join(image[r * W:r * W + M] for r in range(M))
        support.report("sample_patch(0, 0) vs corner of generate, pixels that differ",
                       sum(a != b for a, b in zip(pixels_of(patch), corner)), 0)
        self.assertEqual(pixels_of(patch), corner)
        # z drawn from the seed: the same z as image 0 of generate.
        drawn = self.model.sample_patch(H, W, 0, 0, seed=9)
        image = pixels_of(self.model.generate(1, H, W, seed=9))
        self.assertEqual(pixels_of(drawn), b"".join(image[r * W:r * W + M] for r in range(M)))
        # Elsewhere on the grid: a patch, deterministic for its seed.
        inner = self.model.sample_patch(H, W, H - M, W - M, seed=9, z=z)
        self.assertEqual(support.shape_of(inner), (M, M))
        self.assertEqual(pixels_of(inner),
                         pixels_of(self.model.sample_patch(H, W, H - M, W - M, seed=9, z=z)))
        with self.assertRaises(sp.InvalidArgumentError) as ctx:
            self.model.sample_patch(H, W, H - M + 1, 0)
        self.assertIn("leaves", ctx.exception.message)
        with self.assertRaises(ValueError):
            self.model.sample_patch(H, W, -1, 0)
        with self.assertRaisesRegex(ValueError, "3 floats"):
            self.model.sample_patch(H, W, 0, 0, z=[0.0, 0.0])

    # ---- reconstruct ----------------------------------------------------------------------------

    def test_reconstruct(self):
        img = support.images((10, 9), 3, self.USE_NUMPY)
        out = self.model.reconstruct(img, H + 4, W, seed=5)
        self.assertEqual(support.shape_of(out), (H + 4, W))
        if self.USE_NUMPY:
            self.assertEqual(out.dtype, support.NUMPY.uint8)
        else:
            self.assertIsInstance(out.data, bytes)
        # It is generation with z the encoder mean of the image.
        z = self.model.encode(img)
        expected = pixels_of(self.model.generate(1, H + 4, W, seed=5, z=[z]))
        self.assertEqual(pixels_of(out), expected)
        raw = bytes(support.flat(img))
        self.assertEqual(pixels_of(self.model.reconstruct(raw, H + 4, W, seed=5, shape=(10, 9))),
                         expected)
        with self.assertRaises(ValueError):
            self.model.reconstruct(support.images((2, 8, 8), 3, self.USE_NUMPY), H, W)
        with self.assertRaises(TypeError):
            self.model.reconstruct(raw, H, W)  # bytes need a shape
        with sp.Model.create(**dict(TINY, use_latent=0)) as plain:
            with self.assertRaises(sp.UnsupportedError) as ctx:
                plain.reconstruct(img, H, W)
            self.assertTrue(ctx.exception.message)
            # Generation itself works without a latent code; a z is ignored.
            self.assertEqual(pixels_of(plain.generate(1, H, W, seed=1)),
                             pixels_of(plain.generate(1, H, W, seed=1, z=[9.0, 9.0, 9.0])))

    # ---- options --------------------------------------------------------------------------------

    def test_options(self):
        self.assertEqual(self.model.temperature, 1.0)
        full = pixels_of(self.model.generate(2, H, W, seed=17))
        self.model.temperature = 0.5
        self.assertEqual(self.model.temperature, 0.5)
        self.assertEqual(self.model.config["temperature"], 0.5)
        sharp = pixels_of(self.model.generate(2, H, W, seed=17))
        self.assertNotEqual(sharp, full)
        self.model.set_option("temperature", 1)
        self.assertEqual(pixels_of(self.model.generate(2, H, W, seed=17)), full)
        # Keys fixed at creation: the library refuses and says why.
        for name in ("nr_filters", "patch_size", "latent_size"):
            with self.subTest(name=name):
                with self.assertRaises(sp.InvalidArgumentError) as ctx:
                    self.model.set_option(name, 5)
                self.assertIn(name, ctx.exception.message)
                self.assertIn("fixed", ctx.exception.message)
        self.assertEqual(self.model.config["nr_filters"], TINY["nr_filters"])
        # The scale-aware training settings change (fine-tuning), the range stays ordered.
        self.model.set_option("train_native_share", 0.25)
        self.assertEqual(self.model.config["train_native_share"], 0.25)
        with self.assertRaises(sp.InvalidArgumentError) as ctx:
            self.model.set_option("train_scale_min", 2)
        self.assertIn("train_scale_max", ctx.exception.message)
        self.model.set_option("train_native_share", 0)
        # So does the KL term's weight (library 0.7).
        self.model.set_option("kl_weight", 0.5)
        self.assertEqual(self.model.config["kl_weight"], 0.5)
        with self.assertRaises(sp.InvalidArgumentError):
            self.model.set_option("kl_weight", 1.5)
        self.model.set_option("kl_weight", 1)
        # And the training arithmetic (0.7), by name: bf16 where the CPU has it.
        with self.assertRaisesRegex(ValueError, "fp16"):
            self.model.set_option("train_precision", "fp16")
        try:
            self.model.set_option("train_precision", "bf16")
        except sp.UnsupportedError as e:
            self.assertIn("AVX-512 BF16", e.message)
            self.assertEqual(self.model.config["train_precision"], 0)
        else:
            self.assertEqual(self.model.config["train_precision"], 1)
        self.model.set_option("train_precision", "fp32")
        self.assertEqual(self.model.config["train_precision"], 0)
        # Precision: by name; bf16 where the CPU has it, UnsupportedError elsewhere.
        self.assertEqual(self.model.precision, "fp32")
        with self.assertRaisesRegex(ValueError, "fp16"):
            self.model.precision = "fp16"
        with self.assertRaises(TypeError):
            self.model.precision = 1
        try:
            self.model.precision = "bf16"
        except sp.UnsupportedError as e:
            self.assertIn("AVX-512 BF16", e.message)
            self.assertEqual(self.model.precision, "fp32")
        else:
            self.assertEqual(self.model.precision, "bf16")
            self.assertEqual(len(pixels_of(self.model.generate(2, H, W, seed=17))), 2 * H * W)
            self.model.precision = "fp32"
        self.assertEqual(pixels_of(self.model.generate(2, H, W, seed=17)), full)
        with self.assertRaises(sp.InvalidArgumentError) as ctx:
            self.model.temperature = 3.0  # above the bound
        self.assertIn("temperature", ctx.exception.message)
        self.assertEqual(self.model.temperature, 1.0)
        with self.assertRaises(sp.InvalidArgumentError):
            self.model.set_option("schedule", 2)
        with self.assertRaisesRegex(ValueError, "spiral"):
            self.model.schedule = "spiral"
        with self.assertRaises(TypeError):
            self.model.schedule = 0
        with self.assertRaisesRegex(TypeError, "no_such_key"):
            self.model.set_option("no_such_key", 1)
        with self.assertRaises(TypeError):
            self.model.set_option("temperature", "hot")
        self.assertEqual(self.model.schedule, "wavefront")
        self.assertEqual(sp.SCHEDULES, ("raster", "wavefront"))

    def test_closed_model(self):
        m = sp.Model.create(**TINY)
        m.close()
        for call in (lambda: m.generate(1, H, W),
                     lambda: m.generate_stream(1, H, W, lambda *a: None),
                     lambda: m.sample_patch(H, W, 0, 0),
                     lambda: m.reconstruct(support.images((8, 8), 1, self.USE_NUMPY), H, W),
                     lambda: m.set_option("temperature", 1.0),
                     lambda: m.temperature, lambda: m.schedule):
            with self.assertRaises(sp.ClosedError):
                call()


class GenerateNoNumpy(GenerateNumpy):
    USE_NUMPY = False


def natural_key(name):
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


class CliSample(support.CliPaths, unittest.TestCase):
    """`spcnn sample` (the C program) and Model.generate give the same bytes for one model file
    and seed."""

    def test_cli_sample_matches_generate(self):
        path = self.path("tiny.spcnn")
        with trained_model(False) as model:
            model.save(path)
        out_dir = self.path("samples")
        os.mkdir(out_dir)
        grid = self.path("grid.png")
        proc = self.run_cli("sample", "--model", path, "--size", "%dx%d" % (H, W + 2),
                            "--count", "2", "--seed", "5", "--out", grid, "--out-dir", out_dir)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        names = sorted((f for f in os.listdir(out_dir) if f.endswith(".png")), key=natural_key)
        self.assertEqual(len(names), 2, names)
        self.assertTrue(os.path.isfile(grid))
        with sp.Model.load(path) as loaded:
            expected = pixels_of(loaded.generate(2, H, W + 2, seed=5))
        for i, name in enumerate(names):
            got = sp.read_png(os.path.join(out_dir, name))
            self.assertEqual(support.shape_of(got), (H, W + 2))
            want = expected[i * H * (W + 2):(i + 1) * H * (W + 2)]
            differ = sum(a != b for a, b in zip(pixels_of(got), want))
            support.report("spcnn sample %s vs Model.generate image %d, pixels that differ"
                           % (name, i), differ, 0)
            self.assertEqual(pixels_of(got), want)


if __name__ == "__main__":
    unittest.main()
