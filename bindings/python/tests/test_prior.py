"""The latent prior: fit_prior, prior, set_prior, draw_latents, the statistics that go with
them, generation drawing z from the prior, and the C program's `spcnn fit-prior` and
`spcnn sample --prior` for the same model file."""

import os
import struct
import unittest

import spatialpixelcnn as sp

import support
from support import pixels_of, trained_model

TINY = support.TINY  # patch_size 8, image_size 8, nr_filters 4, nr_resnet 1, nr_mix 2, L = 3
L = TINY["latent_size"]
H = W = 12  # larger than a patch: many windows per image
COUNT = 12  # images the prior is fitted to


def codes(z):
    """draw_latents' result (an (n, L) array or n lists) as a list of lists of floats."""
    return [[float(v) for v in row] for row in z]


def floats_of(part):
    """A numpy array, a list of floats or a list of lists of floats as a flat list of floats."""
    if not isinstance(part, list):
        return support.flat(part)
    return [float(v) for row in part for v in (row if isinstance(row, list) else [row])]


def prior_values(prior):
    """A Prior as ([weights], [means], [variances]), flat lists of Python floats; None as is."""
    return None if prior is None else tuple(floats_of(part) for part in prior)


class PriorNumpy(support.BothPaths, unittest.TestCase):
    USE_NUMPY = True

    def setUp(self):
        super().setUp()
        self.model = trained_model(self.USE_NUMPY)
        self.addCleanup(self.model.close)
        self.images = support.images((COUNT, 8, 8), 40, self.USE_NUMPY)

    def assertPriorEqual(self, a, b):
        self.assertEqual(prior_values(a), prior_values(b))

    def some_prior(self):
        """A two-component mixture no fit would give, to tell it from fitted ones."""
        return sp.Prior([1.0, 3.0], [[0.5, -1.0, 2.0], [-2.0, 0.0, 1.5]],
                        [[0.25, 1.0, 2.0], [0.5, 0.125, 4.0]])

    # ---- fit_prior and prior --------------------------------------------------------------------

    def test_no_prior_at_first(self):
        self.assertIsNone(self.model.prior)
        self.assertEqual(self.model.stat("prior_components"), 0)
        self.assertIsInstance(self.model.stat("prior_components"), int)
        self.assertEqual(self.model.stat("training_state"), 1)
        self.assertIsInstance(self.model.stat("training_state"), int)
        self.assertIn("prior_components", sp.STATS)
        self.assertIn("training_state", sp.STATS)
        # Without a mixture the model's prior is N(0, I).
        self.assertEqual(codes(self.model.draw_latents(4, seed=3)),
                         codes(self.model.draw_latents(4, seed=3, prior="standard")))

    def test_fit_prior(self):
        standard = codes(self.model.draw_latents(5, seed=2))
        seen = []
        self.assertIsNone(self.model.fit_prior(self.images, components=3, seed=1,
                                               progress=seen.append))
        self.assertTrue(seen)
        self.assertEqual(seen, sorted(seen))
        self.assertTrue(all(0.0 <= f <= 1.0 for f in seen), seen)
        self.assertEqual(seen[-1], 1.0)
        self.assertEqual(self.model.stat("prior_components"), 3)
        prior = self.model.prior
        self.assertIsInstance(prior, sp.Prior)
        self.assertEqual(prior._fields, ("weights", "means", "variances"))
        if self.USE_NUMPY:
            np = support.NUMPY
            for part, shape in zip(prior, ((3,), (3, L), (3, L))):
                self.assertIsInstance(part, np.ndarray)
                self.assertEqual((part.dtype, part.shape), (np.float32, shape))
        else:
            self.assertIsInstance(prior.weights, list)
            self.assertEqual(len(prior.weights), 3)
            for part in (prior.means, prior.variances):
                self.assertIsInstance(part, list)
                self.assertEqual([len(row) for row in part], [L] * 3)
                self.assertTrue(all(isinstance(v, float) for row in part for v in row))
        weights, means, variances = prior_values(prior)
        self.assertTrue(support.finite(weights + means + variances))
        self.assertTrue(all(w > 0 for w in weights), weights)
        self.assertTrue(all(v > 0 for v in variances), variances)
        support.report("prior weights, |sum - 1|", abs(sum(weights) - 1), 1e-5)
        self.assertAlmostEqual(sum(weights), 1.0, delta=1e-5)
        # Deterministic: the same images and seed give the same mixture.
        self.model.fit_prior(self.images, components=3, seed=1)
        self.assertPriorEqual(self.model.prior, prior)
        # z is now drawn from the mixture; "standard" still draws N(0, I) with the same keys.
        self.assertNotEqual(codes(self.model.draw_latents(5, seed=2)), standard)
        self.assertEqual(codes(self.model.draw_latents(5, seed=2, prior="standard")), standard)
        # The default is 100 components (as `spcnn fit-prior`); bytes with a shape work too.
        self.model.fit_prior(support.random_bytes(100 * 64, 43), shape=(100, 8, 8))
        self.assertEqual(self.model.stat("prior_components"), 100)
        self.assertEqual(len(self.model.prior.weights), 100)
        # A prior can be fitted with images of another size than the training images.
        self.model.fit_prior(support.images((4, 10, 9), 41, self.USE_NUMPY), components=2)
        self.assertEqual(self.model.stat("prior_components"), 2)

    def test_fit_prior_errors(self):
        for bad in (0, -1):
            with self.assertRaises(ValueError):
                self.model.fit_prior(self.images, components=bad)
        for bad in (1.5, True, "3", None):
            with self.assertRaises(TypeError):
                self.model.fit_prior(self.images, components=bad)
        for seed in (-1, 2**64):
            with self.assertRaisesRegex(ValueError, "seed"):
                self.model.fit_prior(self.images, seed=seed)
        with self.assertRaises(TypeError):
            self.model.fit_prior(bytes(COUNT * 64))  # bytes need shape=
        with self.assertRaises(ValueError):
            self.model.fit_prior(bytes(COUNT * 64 - 1), shape=(COUNT, 8, 8))
        if self.USE_NUMPY:
            with self.assertRaises(ValueError):
                self.model.fit_prior(self.images[0])  # one (h, w) image
            with self.assertRaises(TypeError):
                self.model.fit_prior(self.images.astype(support.NUMPY.float32))
        # The library's checks, with its messages.
        with self.assertRaises(sp.InvalidArgumentError) as ctx:
            self.model.fit_prior(self.images, components=COUNT + 1)
        self.assertIn("components", ctx.exception.message)
        with self.assertRaises(sp.InvalidArgumentError) as ctx:
            self.model.fit_prior(self.images, components=1025)
        self.assertIn("1025", ctx.exception.message)
        with self.assertRaises(sp.InvalidArgumentError):
            self.model.fit_prior(support.images((COUNT, 4, 4), 3, self.USE_NUMPY))  # < a patch
        # Nothing was fitted by any of these.
        self.assertIsNone(self.model.prior)
        self.assertEqual(self.model.stat("prior_components"), 0)

    # ---- set_prior ------------------------------------------------------------------------------

    def test_set_prior(self):
        self.model.set_prior(self.some_prior())
        self.assertEqual(self.model.stat("prior_components"), 2)
        weights, means, variances = prior_values(self.model.prior)
        self.assertEqual(weights, [0.25, 0.75])  # normalised
        self.assertEqual(means, [0.5, -1.0, 2.0, -2.0, 0.0, 1.5])
        self.assertEqual(variances, [0.25, 1.0, 2.0, 0.5, 0.125, 4.0])
        expected = self.model.prior
        # Other forms of the same mixture: a plain tuple, flat sequences, a Prior read back.
        forms = [tuple(self.some_prior()),
                 ([1.0, 3.0], [0.5, -1.0, 2.0, -2.0, 0.0, 1.5],
                  (0.25, 1.0, 2.0, 0.5, 0.125, 4.0)),
                 expected]
        if self.USE_NUMPY:
            np = support.NUMPY
            forms.append(tuple(np.array(part, dtype=np.float64) for part in self.some_prior()))
        for form in forms:
            with self.subTest(form=form):
                self.model.set_prior(None)
                self.model.set_prior(form)
                self.assertPriorEqual(self.model.prior, expected)
        # prior returns a copy.
        if self.USE_NUMPY:
            expected.means[0, 0] = 99.0
        else:
            expected.means[0][0] = 99.0
        self.assertEqual(prior_values(self.model.prior)[1][0], 0.5)
        # None goes back to N(0, I).
        self.model.set_prior(None)
        self.assertIsNone(self.model.prior)
        self.assertEqual(self.model.stat("prior_components"), 0)
        self.assertEqual(codes(self.model.draw_latents(3, seed=9)),
                         codes(self.model.draw_latents(3, seed=9, prior="standard")))
        self.model.set_prior(None)  # already N(0, I): fine
        self.assertIsNone(self.model.prior)

    def test_draws_follow_the_prior(self):
        # One narrow component: every code lies next to its mean.
        centre = [4.0, -3.0, 2.5]
        self.model.set_prior(([2.0], [centre], [[1e-6] * L]))
        drawn = codes(self.model.draw_latents(50, seed=1))
        worst = max(abs(v - c) for row in drawn for v, c in zip(row, centre))
        support.report("codes of a one-component prior, distance to its mean", worst, 0.01)
        self.assertLess(worst, 0.01)
        # Two narrow components at +10 and -10 with weights 1 and 3.
        self.model.set_prior(([1.0, 3.0], [[10.0] * L, [-10.0] * L], [[1e-4] * L] * 2))
        drawn = codes(self.model.draw_latents(400, seed=2))
        high = sum(1 for row in drawn if all(abs(v - 10) < 0.1 for v in row))
        low = sum(1 for row in drawn if all(abs(v + 10) < 0.1 for v in row))
        print("two components of weights 1/4 and 3/4: %d and %d of 400 codes" % (high, low))
        self.assertEqual(high + low, 400)
        self.assertTrue(60 <= high <= 140, high)

    def test_set_prior_errors(self):
        self.model.set_prior(self.some_prior())
        kept = self.model.prior
        good_w, good_m, good_v = self.some_prior()
        type_errors = ["abc", 3, {"weights": good_w}, (None, good_m, good_v),
                       ("ab", good_m, good_v), (good_w, None, good_v), (good_w, good_m, "abc"),
                       ([1.0, None], good_m, good_v), (good_w, [[0.0, 0.0, None]] * 2, good_v)]
        value_errors = [(good_w, good_m), (good_w, good_m, good_v, good_v),
                        ([], [], []),                         # no components: use None
                        ([1.0], good_m, good_v),              # 1 weight, 2 means
                        (good_w, [[0.0] * L], good_v),        # 1 mean vector of 2
                        (good_w, [[0.0] * (L - 1)] * 2, good_v),
                        (good_w, good_m, [1.0] * (2 * L + 1))]
        if self.USE_NUMPY:
            np = support.NUMPY
            value_errors += [(np.ones((2, 1)), good_m, good_v),
                             (good_w, np.zeros((2, L + 1)), good_v),
                             (good_w, good_m, np.ones((L, 2)))]
        for bad in type_errors:
            with self.subTest(bad=bad):
                with self.assertRaises(TypeError):
                    self.model.set_prior(bad)
        for bad in value_errors:
            with self.subTest(bad=bad):
                with self.assertRaises(ValueError) as ctx:
                    self.model.set_prior(bad)
                self.assertNotIsInstance(ctx.exception, sp.SpcnnError)  # caught in Python
        # Values are checked by the library, which names the bad one.
        nan, inf = float("nan"), float("inf")
        library_errors = [
            (([1.0, 0.0], good_m, good_v), "weight"),
            (([1.0, -2.0], good_m, good_v), "weight"),
            (([nan, 1.0], good_m, good_v), "weight"),
            ((good_w, good_m, [[1.0, 0.0, 1.0], [1.0, 1.0, 1.0]]), "variance"),
            ((good_w, good_m, [[1.0, 1.0, 1.0], [1.0, -1.0, 1.0]]), "variance"),
            ((good_w, good_m, [[1.0, 1.0, inf], [1.0, 1.0, 1.0]]), "variance"),
            ((good_w, [[0.0, inf, 0.0], [0.0, 0.0, 0.0]], good_v), "mean"),
            ((good_w, [[0.0, 0.0, 0.0], [nan, 0.0, 0.0]], good_v), "mean"),
            (([1.0] * 1025, [[0.0] * L] * 1025, [[1.0] * L] * 1025), "1025"),
        ]
        for bad, word in library_errors:
            with self.subTest(bad=word):
                with self.assertRaises(sp.InvalidArgumentError) as ctx:
                    self.model.set_prior(bad)
                self.assertIn(word, ctx.exception.message)
        # No failure changed the prior.
        self.assertPriorEqual(self.model.prior, kept)

    # ---- draw_latents ---------------------------------------------------------------------------

    def test_draw_latents(self):
        self.model.fit_prior(self.images, components=3)
        z = self.model.draw_latents(3, seed=7)
        if self.USE_NUMPY:
            np = support.NUMPY
            self.assertIsInstance(z, np.ndarray)
            self.assertEqual((z.dtype, z.shape), (np.float32, (3, L)))
        else:
            self.assertIsInstance(z, list)
            self.assertEqual([len(row) for row in z], [L] * 3)
            self.assertTrue(all(isinstance(v, float) for row in z for v in row))
        self.assertTrue(support.finite([v for row in codes(z) for v in row]))
        self.assertEqual(codes(self.model.draw_latents(3, seed=7)), codes(z))
        self.assertNotEqual(codes(self.model.draw_latents(3, seed=8)), codes(z))
        # Code i is keyed by (seed, i): the same whatever n is.
        self.assertEqual(codes(self.model.draw_latents(1, seed=7)), codes(z)[:1])
        self.assertEqual(codes(self.model.draw_latents(5, seed=7))[:3], codes(z))
        self.assertEqual(codes(self.model.draw_latents(1, seed=2**64 - 1)),
                         codes(self.model.draw_latents(1, seed=2**64 - 1)))
        self.assertEqual(sp.PRIORS, ("model", "standard"))

    def test_draw_latents_errors(self):
        for bad in ("bogus", "Model", ""):
            with self.assertRaisesRegex(ValueError, "prior"):
                self.model.draw_latents(1, prior=bad)
        for bad in (0, 1, None):
            with self.assertRaises(TypeError):
                self.model.draw_latents(1, prior=bad)
        for bad in (0, -1):
            with self.assertRaises(ValueError):
                self.model.draw_latents(bad)
        for bad in (1.5, True, "2"):
            with self.assertRaises(TypeError):
                self.model.draw_latents(bad)
        for seed in (-1, 2**64):
            with self.assertRaisesRegex(ValueError, "seed"):
                self.model.draw_latents(1, seed=seed)
        with self.assertRaises(sp.InvalidArgumentError) as ctx:
            self.model.draw_latents(1000001)
        self.assertIn("1000000", ctx.exception.message)

    # ---- generation draws z from the prior ------------------------------------------------------

    def test_generation_draws_from_the_prior(self):
        self.model.fit_prior(self.images, components=3)
        for seed in (0, 5, 2**64 - 1):
            with self.subTest(seed=seed):
                z = self.model.draw_latents(3, seed=seed)
                drawn = pixels_of(self.model.generate(3, H, W, seed=seed))
                given = pixels_of(self.model.generate(3, H, W, seed=seed, z=z))
                support.report("generate(z=None) vs generate(z=draw_latents()), pixels that "
                               "differ", sum(a != b for a, b in zip(drawn, given)), 0)
                self.assertEqual(given, drawn)
                rows = {}
                self.model.generate_stream(3, H, W,
                                           lambda i, y, row: rows.__setitem__((i, y), bytes(row)),
                                           seed=seed)
                self.assertEqual(b"".join(rows[i, y] for i in range(3) for y in range(H)), drawn)
                patch = pixels_of(self.model.sample_patch(H, W, 0, 0, seed=seed))
                self.assertEqual(patch, pixels_of(self.model.sample_patch(
                    H, W, 0, 0, seed=seed, z=codes(z)[0])))
        # The prior is used: a far-away narrow prior gives other images than N(0, I).
        self.model.set_prior(([1.0], [[3.0, -3.0, 3.0]], [[1e-4] * L]))
        far = pixels_of(self.model.generate(2, H, W, seed=4))
        self.model.set_prior(None)
        self.assertNotEqual(far, pixels_of(self.model.generate(2, H, W, seed=4)))

    def test_standard_draws_are_the_prior_free_samples(self):
        self.model.fit_prior(self.images, components=3)
        z = self.model.draw_latents(3, seed=6, prior="standard")
        with_standard_z = pixels_of(self.model.generate(3, H, W, seed=6, z=z))
        fitted = pixels_of(self.model.generate(3, H, W, seed=6))
        self.model.set_prior(None)
        plain = pixels_of(self.model.generate(3, H, W, seed=6))
        self.assertEqual(with_standard_z, plain)
        self.assertNotEqual(fitted, plain)

    def test_train_step_clears_the_prior(self):
        self.model.fit_prior(self.images, components=3)
        self.assertEqual(self.model.stat("prior_components"), 3)
        self.model.train_step(support.images((4, 8, 8), 50, self.USE_NUMPY))
        self.assertIsNone(self.model.prior)
        self.assertEqual(self.model.stat("prior_components"), 0)
        self.assertEqual(codes(self.model.draw_latents(2, seed=1)),
                         codes(self.model.draw_latents(2, seed=1, prior="standard")))
        self.model.set_prior(self.some_prior())
        self.model.train_step(support.images((4, 8, 8), 51, self.USE_NUMPY))
        self.assertIsNone(self.model.prior)

    # ---- files ----------------------------------------------------------------------------------

    def test_prior_is_saved_with_the_model(self):
        self.model.fit_prior(self.images, components=3)
        fitted = self.model.prior
        expected = pixels_of(self.model.generate(2, H, W, seed=3))
        for state in (False, True):
            with self.subTest(training_state=state):
                path = self.path("prior-%d.spcnn" % state)
                self.model.save(path, training_state=state)
                with sp.Model.load(path) as loaded:
                    self.assertEqual(loaded.stat("training_state"), int(state))
                    self.assertEqual(loaded.stat("prior_components"), 3)
                    self.assertPriorEqual(loaded.prior, fitted)
                    self.assertEqual(pixels_of(loaded.generate(2, H, W, seed=3)), expected)
                    self.assertEqual(codes(loaded.draw_latents(4, seed=1)),
                                     codes(self.model.draw_latents(4, seed=1)))
        # A given mixture is saved as well, and N(0, I) again after set_prior(None).
        self.model.set_prior(self.some_prior())
        self.model.save(self.path("given.spcnn"))
        with sp.Model.load(self.path("given.spcnn")) as loaded:
            self.assertPriorEqual(loaded.prior, self.model.prior)
        self.model.set_prior(None)
        self.model.save(self.path("none.spcnn"))
        with sp.Model.load(self.path("none.spcnn")) as loaded:
            self.assertIsNone(loaded.prior)
            self.assertEqual(loaded.stat("prior_components"), 0)

    # ---- progress and cancelling ----------------------------------------------------------------

    def test_cancel_keeps_the_prior(self):
        self.model.fit_prior(self.images, components=2, seed=3)
        kept = self.model.prior
        calls = []

        def stop(fraction):
            calls.append(fraction)
            return True

        with self.assertRaises(sp.CancelledError) as ctx:
            self.model.fit_prior(self.images, components=3, progress=stop)
        self.assertEqual(ctx.exception.status, 10)
        self.assertEqual(len(calls), 1)  # no call after the cancel
        self.assertPriorEqual(self.model.prior, kept)
        self.assertEqual(self.model.stat("prior_components"), 2)

        class Boom(Exception):
            pass

        def explode(fraction):
            raise Boom("progress %g" % fraction)

        with self.assertRaises(Boom):
            self.model.fit_prior(self.images, components=3, progress=explode)
        self.assertPriorEqual(self.model.prior, kept)
        # Cancelled half-way.
        with self.assertRaises(sp.CancelledError):
            self.model.fit_prior(self.images, components=3, progress=lambda f: f > 0.5)
        self.assertPriorEqual(self.model.prior, kept)
        # The callback was removed after the call: the next fit runs to the end.
        self.model.fit_prior(self.images, components=3)
        self.assertEqual(self.model.stat("prior_components"), 3)

    def test_cancel_at_the_end_keeps_the_prior(self):
        # Even the last progress call (fraction 1.0) may cancel: the new mixture is then
        # dropped and the previous prior stays, as after any failure.
        self.model.fit_prior(self.images, components=2, seed=3)
        kept = self.model.prior
        with self.assertRaises(sp.CancelledError):
            self.model.fit_prior(self.images, components=3, progress=lambda f: f >= 1.0)
        self.assertPriorEqual(self.model.prior, kept)

    # ---- models without latent code, closed models ----------------------------------------------

    def test_model_without_latent_code(self):
        with trained_model(self.USE_NUMPY, steps=1, use_latent=0) as model:
            self.assertIsNone(model.prior)
            self.assertEqual(model.stat("prior_components"), 0)
            with self.assertRaises(sp.UnsupportedError) as ctx:
                model.fit_prior(self.images, components=2)
            self.assertIn("latent", ctx.exception.message)
            with self.assertRaises(sp.UnsupportedError):
                model.draw_latents(1)
            with self.assertRaises(sp.UnsupportedError):
                model.draw_latents(1, prior="standard")
            with self.assertRaises(sp.UnsupportedError):
                model.set_prior(self.some_prior())
            model.set_prior(None)  # N(0, I) is every model's prior
            self.assertIsNone(model.prior)

    def test_closed_model(self):
        m = sp.Model.create(**TINY)
        m.close()
        for call in (lambda: m.fit_prior(self.images, components=2), lambda: m.prior,
                     lambda: m.set_prior(None), lambda: m.set_prior(self.some_prior()),
                     lambda: m.draw_latents(1), lambda: m.stat("prior_components")):
            with self.assertRaises(sp.ClosedError):
                call()


class PriorNoNumpy(PriorNumpy):
    USE_NUMPY = False


class ShippedModel(unittest.TestCase):
    """The prior on the shipped MNIST model ($SPCNN_TEST_MODEL): its latent code of 60."""

    def setUp(self):
        path = os.environ.get("SPCNN_TEST_MODEL")
        if not path or not os.path.isfile(path):
            self.skipTest("SPCNN_TEST_MODEL is not set to a model file")
        self.model = sp.Model.load(path)
        self.addCleanup(self.model.close)

    def test_fit_and_generate(self):
        size = self.model.config["latent_size"]
        side = self.model.config["image_size"]
        m = self.model.config["patch_size"]
        self.model.fit_prior(support.images((16, side, side), 60, support.NUMPY is not None),
                             components=4, seed=2)
        weights, means, variances = prior_values(self.model.prior)
        self.assertEqual((len(weights), len(means), len(variances)), (4, 4 * size, 4 * size))
        self.assertAlmostEqual(sum(weights), 1.0, delta=1e-5)
        self.assertTrue(support.finite(means) and all(v > 0 for v in variances))
        z = self.model.draw_latents(1, seed=8)
        self.assertEqual(len(codes(z)[0]), size)
        self.assertEqual(pixels_of(self.model.generate(1, m, m, seed=8, z=z)),
                         pixels_of(self.model.generate(1, m, m, seed=8)))


# ---- the C program ------------------------------------------------------------------------------


def write_idx(path, data, count, height, width):
    """An IDX file of count images of height × width bytes (the MNIST layout)."""
    with open(path, "wb") as f:
        f.write(struct.pack(">IIII", 0x00000803, count, height, width))
        f.write(data)


class CliPrior(support.CliPaths, unittest.TestCase):
    """`spcnn fit-prior` fits the mixture Model.fit_prior fits to the same images, and
    `spcnn sample` draws z from it as Model.generate does."""

    def test_fit_prior_and_sample(self):
        path = self.path("tiny.spcnn")
        with trained_model(False) as model:
            model.save(path)
        data = self.path("data")
        os.mkdir(data)
        pixels = support.random_bytes(COUNT * 64, 70)
        write_idx(os.path.join(data, "train-images-idx3-ubyte"), pixels, COUNT, 8, 8)
        write_idx(os.path.join(data, "t10k-images-idx3-ubyte"), pixels[:4 * 64], 4, 8, 8)
        fitted = self.path("fitted.spcnn")
        proc = self.run_cli("fit-prior", "--model", path, "--data", data, "--components", "3",
                            "--validation", "0", "--seed", "5", "--out", fitted)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        with sp.Model.load(path) as model:
            model.fit_prior(pixels, components=3, seed=5, shape=(COUNT, 8, 8))
            expected = prior_values(model.prior)
        with sp.Model.load(fitted) as model:
            self.assertEqual(prior_values(model.prior), expected)
            model_bytes = pixels_of(model.generate(2, H, W, seed=5))
            z = model.draw_latents(2, seed=5, prior="standard")
            standard_bytes = pixels_of(model.generate(2, H, W, seed=5, z=z))
        for prior, want in (("model", model_bytes), ("standard", standard_bytes)):
            with self.subTest(prior=prior):
                out_dir = self.path("samples-" + prior)
                os.mkdir(out_dir)
                proc = self.run_cli("sample", "--model", fitted, "--size", "%dx%d" % (H, W),
                                    "--count", "2", "--seed", "5", "--prior", prior,
                                    "--out", self.path("grid-%s.png" % prior),
                                    "--out-dir", out_dir)
                self.assertEqual(proc.returncode, 0, proc.stderr)
                names = sorted(f for f in os.listdir(out_dir) if f.endswith(".png"))
                self.assertEqual(len(names), 2, names)
                got = b"".join(pixels_of(sp.read_png(os.path.join(out_dir, name)))
                               for name in names)
                differ = sum(a != b for a, b in zip(got, want))
                support.report("spcnn sample --prior %s vs Model.generate, pixels that differ"
                               % prior, differ, 0)
                self.assertEqual(got, want)


if __name__ == "__main__":
    unittest.main()
