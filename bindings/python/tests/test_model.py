"""Model: creation, configuration, training, scoring, progress, save/load, close, threads."""

import array
import math
import threading
import traceback
import unittest

import spatialpixelcnn as sp

import support

TINY = support.TINY
H = W = 8


class ModelNumpy(support.BothPaths, unittest.TestCase):
    USE_NUMPY = True

    def setUp(self):
        super().setUp()
        self.model = sp.Model.create(**TINY)
        self.addCleanup(self.model.close)

    def batch(self, n=4, seed=1, h=H, w=W):
        return support.images((n, h, w), seed, self.USE_NUMPY)

    def image(self, seed=2, h=H, w=W):
        return support.images((h, w), seed, self.USE_NUMPY)

    def train(self, model, steps=3):
        stats = []
        for step in range(steps):
            stats.append(model.train_step(self.batch(seed=10 + step)))
        return stats

    # ---- creation and configuration -------------------------------------------------------------

    def test_config_and_repr(self):
        cfg = self.model.config
        names = [k.name for k in sp.CONFIG_KEYS]
        self.assertEqual(sorted(cfg), sorted(names))
        for key, value in TINY.items():
            self.assertEqual(cfg[key], value)
            self.assertIsInstance(cfg[key], int)
        self.assertIsInstance(cfg["dropout"], float)
        cfg["nr_filters"] = 99  # a copy: the model is not changed
        self.assertEqual(self.model.config["nr_filters"], 4)
        text = repr(self.model)
        for key in ("patch_size=8", "nr_filters=4", "nr_resnet=1", "nr_mix=2", "latent_size=3",
                    "image_size=8"):
            self.assertIn(key, text)

    def test_create_errors(self):
        with self.assertRaisesRegex(TypeError, "'no_such_key'"):
            sp.Model.create(no_such_key=1)
        with self.assertRaisesRegex(TypeError, "'Patch_Size'"):
            sp.Model.create(Patch_Size=8)
        with self.assertRaises(sp.InvalidArgumentError) as ctx:
            sp.Model.create(nr_filters=0)
        self.assertIn("nr_filters", ctx.exception.message)
        self.assertIn("1024", ctx.exception.message)
        with self.assertRaises(sp.InvalidArgumentError) as ctx:
            sp.Model.create(patch_size=6)  # not a multiple of 4
        self.assertIn("patch_size", ctx.exception.message)
        with self.assertRaises(sp.InvalidArgumentError):
            sp.Model.create(nr_resnet=1.5)
        with self.assertRaises(sp.InvalidArgumentError):
            sp.Model.create(dropout=float("nan"))
        with self.assertRaises(TypeError):
            sp.Model.create(nr_filters="4")
        with self.assertRaises(TypeError):
            sp.Model()

    def test_stats_before_training(self):
        self.assertEqual(self.model.step, 0)
        self.assertEqual(self.model.images_seen, 0)
        self.assertGreater(self.model.parameters, 0)
        self.assertIsInstance(self.model.parameters, int)
        for name in sp.STATS:
            value = self.model.stat(name)
            self.assertTrue(math.isfinite(value), name)
        with self.assertRaises(ValueError):
            self.model.stat("no_such_stat")
        with self.assertRaises(TypeError):
            self.model.stat(1)

    def test_set_threads(self):
        self.model.set_threads(2)
        self.assertEqual(self.model.config["threads"], 2)
        self.model.set_threads(1)
        self.assertEqual(self.model.config["threads"], 1)
        self.assertTrue(math.isfinite(self.model.train_step(self.batch())["bits_per_dim"]))
        with self.assertRaises(sp.InvalidArgumentError) as ctx:
            self.model.set_threads(0)
        self.assertTrue(ctx.exception.message)
        with self.assertRaises(TypeError):
            self.model.set_threads(1.5)
        with self.assertRaises(TypeError):
            self.model.set_threads(True)

    # ---- training and scoring -------------------------------------------------------------------

    def test_train_steps(self):
        stats = self.train(self.model, 3)
        for i, s in enumerate(stats):
            self.assertEqual(sorted(s), sorted(["bits_per_dim", "reconstruction", "kl",
                                                "learning_rate", "grad_norm", "step"]))
            self.assertTrue(support.finite(s.values()), s)
            self.assertGreater(s["bits_per_dim"], 0)
            self.assertEqual(s["step"], i + 1)
        print("train_step bits_per_dim: %s" % [round(s["bits_per_dim"], 4) for s in stats])
        self.assertEqual(self.model.step, 3)
        self.assertEqual(self.model.images_seen, 12)
        self.assertEqual(self.model.stat("bits_per_dim"), stats[-1]["bits_per_dim"])

    def test_train_step_bytes_like(self):
        data = support.random_bytes(4 * H * W, seed=5)
        for obj in (data, bytearray(data), memoryview(data)):
            s = self.model.train_step(obj, shape=(4, H, W))
            self.assertTrue(math.isfinite(s["bits_per_dim"]))
        self.assertEqual(self.model.step, 3)

    def test_wrong_images(self):
        with self.assertRaises(ValueError):
            self.model.train_step(self.image())  # (h, w) where (n, h, w) is expected
        with self.assertRaises(TypeError):
            self.model.train_step([[[0] * W] * H] * 4)
        with self.assertRaises(TypeError):
            self.model.train_step(b"\0" * (4 * H * W))  # no shape
        with self.assertRaises(ValueError):
            self.model.train_step(b"\0" * (4 * H * W - 1), shape=(4, H, W))
        with self.assertRaises(ValueError):
            self.model.train_step(b"", shape=(0, H, W))
        # Shapes the library refuses: smaller than a patch.
        with self.assertRaises(sp.InvalidArgumentError) as ctx:
            self.model.train_step(self.batch(h=4, w=4))
        self.assertTrue(ctx.exception.message)
        with self.assertRaises(ValueError):
            self.model.encode(self.batch())
        with self.assertRaises(ValueError):
            self.model.evaluate(self.image())
        self.assertEqual(self.model.step, 0)

    def test_encode(self):
        self.train(self.model, 1)
        z = self.model.encode(self.image())
        if self.USE_NUMPY:
            self.assertEqual(z.dtype, support.NUMPY.float32)
            self.assertEqual(z.shape, (3,))
            z = [float(v) for v in z]
        else:
            self.assertIsInstance(z, list)
        self.assertEqual(len(z), TINY["latent_size"])
        self.assertTrue(support.finite(z))
        # Any image size: it is resampled to image_size.
        self.assertEqual(len(support.flat(self.model.encode(self.image(h=13, w=5)))), 3)

    def test_encode_without_latent(self):
        with sp.Model.create(**dict(TINY, use_latent=0)) as m:
            with self.assertRaises(sp.UnsupportedError) as ctx:
                m.encode(self.image())
            self.assertTrue(ctx.exception.message)
            with self.assertRaises(sp.UnsupportedError):
                m.decode([0.0] * TINY["latent_size"])

    def test_decode(self):
        self.train(self.model, 1)
        z = self.model.encode(self.image())
        img = self.model.decode(z)
        side = TINY["image_size"]
        self.assertEqual(support.shape_of(img), (side, side))
        if self.USE_NUMPY:
            self.assertEqual(img.dtype, support.NUMPY.uint8)
        self.assertEqual(support.pixels_of(self.model.decode(z)), support.pixels_of(img))
        far = [v + 5.0 for v in support.flat(z)]
        self.assertNotEqual(support.pixels_of(self.model.decode(far)), support.pixels_of(img))
        with self.assertRaises(ValueError):
            self.model.decode([0.0] * (TINY["latent_size"] + 1))
        with self.assertRaises(sp.InvalidArgumentError) as ctx:
            self.model.decode([float("nan")] + [0.0] * (TINY["latent_size"] - 1))
        self.assertIn("not finite", ctx.exception.message)

    def test_log_prob(self):
        self.train(self.model, 1)
        img = self.image(h=H + 3, w=W + 1)
        nll = self.model.log_prob(img)
        self.assertEqual(support.shape_of(nll), (H + 3, W + 1))
        if self.USE_NUMPY:
            self.assertEqual(nll.dtype, support.NUMPY.float32)
        else:
            self.assertIsInstance(nll.data, array.array)
            self.assertEqual(nll.data.typecode, "f")
        values = support.flat(nll)
        self.assertTrue(support.finite(values))
        self.assertGreaterEqual(min(values), -1e-4)  # -log2 of a probability, up to rounding
        # z = None means the encoder mean: passing that mean gives the same map.
        z = self.model.encode(img)
        same = support.flat(self.model.log_prob(img, z=z))
        worst = max(abs(a - b) for a, b in zip(values, same))
        support.report("log_prob(z=None) vs log_prob(z=encode)", worst, 1e-5)
        self.assertLessEqual(worst, 1e-5)
        z_list = [float(v) for v in support.flat(z)] if self.USE_NUMPY else z
        other = support.flat(self.model.log_prob(img, z=[v + 3.0 for v in z_list]))
        self.assertNotEqual(values, other)  # z is really used
        with self.assertRaisesRegex(ValueError, "3 floats"):
            self.model.log_prob(img, z=[0.0, 1.0])
        with self.assertRaises(TypeError):
            self.model.log_prob(img, z=[None, None, None])

    def test_evaluate(self):
        self.train(self.model, 1)
        h, w = H + 3, W + 1  # larger than a patch: many windows per image
        result = self.model.evaluate(self.batch(n=2, seed=4, h=h, w=w))
        self.assertEqual(sorted(result), ["bpd_image", "bpd_patches", "kl"])
        self.assertTrue(support.finite(result.values()))
        self.assertGreater(result["bpd_patches"], 0)
        self.assertGreater(result["bpd_image"], 0)
        self.assertGreaterEqual(result["kl"], 0)
        print("evaluate: %s" % result)
        # bpd_image is the mean of the log_prob maps of the images (same windows, same z).
        data = support.flat(self.batch(n=2, seed=4, h=h, w=w))
        total = 0.0
        for i in range(2):
            one = bytes(data[i * h * w:(i + 1) * h * w])
            total += sum(support.flat(self.model.log_prob(one, shape=(h, w))))
        mean = total / (2 * h * w)
        error = abs(mean - result["bpd_image"]) / result["bpd_image"]
        support.report("evaluate bpd_image vs mean of log_prob", error, 1e-5)
        self.assertLess(error, 1e-5)

    # ---- progress -------------------------------------------------------------------------------

    def test_progress_reports(self):
        seen = []
        result = self.model.evaluate(self.batch(n=2), progress=seen.append)
        self.assertTrue(support.finite(result.values()))
        self.assertTrue(seen)
        self.assertTrue(all(0.0 <= f <= 1.0 for f in seen), seen)
        self.assertEqual(seen, sorted(seen))
        seen = []
        self.model.log_prob(self.image(), progress=seen.append)
        self.assertTrue(seen)

    def test_progress_cancel(self):
        calls = []

        def stop(fraction):
            calls.append(fraction)
            return True

        with self.assertRaises(sp.CancelledError) as ctx:
            self.model.evaluate(self.batch(n=2), progress=stop)
        self.assertEqual(ctx.exception.status, 10)
        self.assertEqual(len(calls), 1)
        with self.assertRaises(sp.CancelledError):
            self.model.log_prob(self.image(), progress=lambda f: f > 0.2)
        # The callback is removed after the call: the next one runs to the end.
        self.assertTrue(support.finite(self.model.evaluate(self.batch(n=2)).values()))

    def test_progress_exception_is_reraised(self):
        class Boom(Exception):
            pass

        def explode(fraction):
            raise Boom("at %g" % fraction)

        try:
            self.model.evaluate(self.batch(n=2), progress=explode)
        except Boom as exc:
            # The same exception, its traceback still reaching into the callback.
            names = [frame.name for frame in traceback.extract_tb(exc.__traceback__)]
            self.assertIn("explode", names)
            self.assertTrue(str(exc).startswith("at "))
        else:
            self.fail("the callback's exception was lost")
        with self.assertRaises(KeyboardInterrupt):
            self.model.log_prob(self.image(), progress=self._interrupt)
        with self.assertRaises(TypeError):
            self.model.evaluate(self.batch(n=2), progress=42)

    @staticmethod
    def _interrupt(fraction):
        raise KeyboardInterrupt

    def test_progress_reentry_is_refused(self):
        def reenter(fraction):
            self.model.stat("step")

        with self.assertRaisesRegex(RuntimeError, "re-entrant"):
            self.model.evaluate(self.batch(n=2), progress=reenter)
        with self.assertRaisesRegex(RuntimeError, "inside a call"):
            self.model.evaluate(self.batch(n=2), progress=lambda f: self.model.close())
        self.assertFalse(self.model.closed)

    # ---- files ----------------------------------------------------------------------------------

    def test_save_load_round_trip(self):
        self.train(self.model, 3)
        img = self.image(seed=21)
        before = support.flat(self.model.log_prob(img))
        path = self.path("m.spcnn")
        self.model.save(path)
        with sp.Model.load(path) as loaded:
            self.assertEqual(loaded.config, self.model.config)
            after = support.flat(loaded.log_prob(img))
        worst = max(abs(a - b) for a, b in zip(before, after))
        support.report("log_prob after save/load", worst, 0.0)
        self.assertEqual(before, after)
        full = self.path("full.spcnn")
        self.model.save(full, training_state=True)
        with sp.Model.load(full) as resumed:
            self.assertEqual(resumed.step, 3)
            self.assertEqual(resumed.images_seen, 12)
            self.assertEqual(support.flat(resumed.log_prob(img)), before)

    def test_load_errors(self):
        with self.assertRaises(sp.SpcnnIOError) as ctx:
            sp.Model.load(self.path("missing.spcnn"))
        self.assertIn("missing.spcnn", ctx.exception.message)
        png = self.path("image.png")
        sp.write_png(png, self.image())
        with self.assertRaises(sp.FormatError) as ctx:
            sp.Model.load(png)
        self.assertTrue(ctx.exception.message)
        with self.assertRaises(sp.SpcnnIOError):
            self.model.save(self.path("no/such/dir/m.spcnn"))
        with self.assertRaises(TypeError):
            sp.Model.load(None)

    # ---- lifetime -------------------------------------------------------------------------------

    def test_close(self):
        m = sp.Model.create(**TINY)
        self.assertFalse(m.closed)
        m.close()
        m.close()  # idempotent
        self.assertTrue(m.closed)
        self.assertIn("closed", repr(m))
        for call in (lambda: m.config, lambda: m.step, lambda: m.stat("kl"),
                     lambda: m.train_step(self.batch()), lambda: m.encode(self.image()),
                     lambda: m.log_prob(self.image()), lambda: m.evaluate(self.batch()),
                     lambda: m.save(self.path("x.spcnn")), lambda: m.set_threads(1)):
            with self.assertRaises(sp.ClosedError):
                call()
        with self.assertRaises(ValueError):  # ClosedError is a ValueError
            m.encode(self.image())
        with self.assertRaises(sp.ClosedError):
            with m:
                pass

    def test_context_manager(self):
        with sp.Model.create(**TINY) as m:
            self.assertEqual(m.step, 0)
        self.assertTrue(m.closed)
        with self.assertRaises(ZeroDivisionError):
            with sp.Model.create(**TINY) as m2:
                1 / 0
        self.assertTrue(m2.closed)

    def test_threads_share_one_model(self):
        errors = []

        def work(seed):
            try:
                for i in range(2):
                    self.model.train_step(self.batch(seed=seed + i))
                    self.model.stat("grad_norm")
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(100 * t,)) for t in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(errors, [])
        self.assertEqual(self.model.step, 4)
        self.assertEqual(self.model.images_seen, 16)


class ModelNoNumpy(ModelNumpy):
    USE_NUMPY = False


if __name__ == "__main__":
    unittest.main()
