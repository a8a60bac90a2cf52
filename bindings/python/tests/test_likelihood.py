"""Model.likelihood_map: the per-pixel NLL map of log_prob with its summary, z by name or
given, and the C program's `spcnn likelihood` on the same model file and image."""

import array
import math
import os
import re
import unittest

import spatialpixelcnn as sp

import support
from support import trained_model

TINY = support.TINY  # patch_size 8, image_size 8, latent_size 3
H, W = 11, 9  # larger than a patch, not square: rows and columns cannot be confused


class LikelihoodNumpy(support.BothPaths, unittest.TestCase):
    USE_NUMPY = True

    def setUp(self):
        super().setUp()
        self.model = trained_model(self.USE_NUMPY, steps=1)
        self.addCleanup(self.model.close)

    def image(self, seed=2):
        return support.images((H, W), seed, self.USE_NUMPY)

    def test_map_and_summary(self):
        img = self.image()
        result = self.model.likelihood_map(img)
        self.assertIsInstance(result, sp.Likelihood)
        self.assertEqual(support.shape_of(result.map), (H, W))
        if self.USE_NUMPY:
            self.assertEqual(result.map.dtype, support.NUMPY.float32)
        else:
            self.assertIsInstance(result.map.data, array.array)
        values = support.flat(result.map)
        # The map is log_prob's, z the encoder mean.
        self.assertEqual(values, support.flat(self.model.log_prob(img)))
        self.assertIsInstance(result.bits_per_dim, float)
        self.assertIsInstance(result.total_bits, float)
        self.assertEqual(result.total_bits, math.fsum(values))
        self.assertEqual(result.bits_per_dim, math.fsum(values) / (H * W))
        self.assertGreater(result.bits_per_dim, 0)
        print("likelihood_map: %.4f bits/dim, %.2f bits" % (result.bits_per_dim,
                                                            result.total_bits))
        # "encode" is the default by name; a given z is passed through.
        self.assertEqual(support.flat(self.model.likelihood_map(img, z="encode").map), values)
        z = [0.5, -1.0, 2.0]
        self.assertEqual(support.flat(self.model.likelihood_map(img, z=z).map),
                         support.flat(self.model.log_prob(img, z=z)))

    def test_prior_z_follows_the_seed(self):
        img = self.image()
        encoded = support.flat(self.model.likelihood_map(img).map)
        drawn = self.model.likelihood_map(img, z="prior", seed=5)
        z = self.model.draw_latents(1, seed=5)[0]
        self.assertEqual(support.flat(drawn.map), support.flat(self.model.log_prob(img, z=z)))
        self.assertNotEqual(support.flat(drawn.map), encoded)
        again = self.model.likelihood_map(img, z="prior", seed=5)
        self.assertEqual(support.flat(again.map), support.flat(drawn.map))
        other = self.model.likelihood_map(img, z="prior", seed=6)
        self.assertNotEqual(support.flat(other.map), support.flat(drawn.map))
        self.assertEqual(support.flat(self.model.likelihood_map(img, z="prior").map),
                         support.flat(self.model.log_prob(
                             img, z=self.model.draw_latents(1, seed=0)[0])))

    def test_bytes_and_progress(self):
        data = support.pixels_of(self.image())
        seen = []
        result = self.model.likelihood_map(data, shape=(H, W), progress=seen.append)
        self.assertEqual(support.flat(result.map),
                         support.flat(self.model.likelihood_map(self.image()).map))
        self.assertTrue(seen and seen[-1] == 1.0, seen)
        with self.assertRaises(sp.CancelledError):
            self.model.likelihood_map(self.image(), progress=lambda f: True)

    def test_errors(self):
        img = self.image()
        with self.assertRaisesRegex(ValueError, "unknown z 'posterior'"):
            self.model.likelihood_map(img, z="posterior")
        with self.assertRaisesRegex(ValueError, "3 floats"):
            self.model.likelihood_map(img, z=[0.0, 1.0])
        with self.assertRaises(ValueError):
            self.model.likelihood_map(img, seed=-1)
        with self.assertRaises(TypeError):
            self.model.likelihood_map(img, seed=1.5)
        with self.assertRaises(sp.InvalidArgumentError) as ctx:
            self.model.likelihood_map(support.images((7, 9), 3, self.USE_NUMPY))
        print("a 7 x 9 image: %s" % ctx.exception)
        self.assertIn("smaller than", str(ctx.exception))
        self.model.close()
        with self.assertRaises(sp.ClosedError):
            self.model.likelihood_map(img)

    def test_model_without_latent_code(self):
        with sp.Model.create(**dict(TINY, use_latent=0)) as model:
            img = self.image()
            plain = support.flat(model.likelihood_map(img).map)
            self.assertEqual(support.flat(model.likelihood_map(img, z="prior", seed=3).map),
                             plain)


class LikelihoodNoNumpy(LikelihoodNumpy):
    USE_NUMPY = False


class CliLikelihood(support.CliPaths, unittest.TestCase):
    """`spcnn likelihood` writes the map Model.likelihood_map returns and prints its summary."""

    def test_cli_matches_the_binding(self):
        path = self.path("tiny.spcnn")
        with trained_model(False) as model:
            model.save(path)
        img = support.images((H, W), 4, False)
        png = self.path("in.png")
        sp.write_png(png, img)
        with sp.Model.load(path) as model:
            want = {"encode": model.likelihood_map(img),
                    "prior": model.likelihood_map(img, z="prior", seed=7)}
        for z, expected in want.items():
            with self.subTest(z=z):
                csv = self.path("map-%s.csv" % z)
                proc = self.run_cli("likelihood", "--model", path, "--in", png,
                                    "--out", self.path("map-%s.png" % z), "--csv", csv,
                                    "--z", z, "--seed", "7")
                self.assertEqual(proc.returncode, 0, proc.stderr)
                with open(csv) as f:
                    rows = [[float(v) for v in line.split(",")] for line in f]
                self.assertEqual([len(r) for r in rows], [W] * H)
                # %.9g gives back the very float32: round the doubles read to float32
                got = list(array.array("f", [v for r in rows for v in r]))
                worst = max(abs(a - b) for a, b in zip(got, support.flat(expected.map)))
                support.report("spcnn likelihood --z %s CSV vs likelihood_map" % z, worst, 0)
                self.assertEqual(got, support.flat(expected.map))
                bpd = float(re.search(r"^bits/dim: ([0-9.]+) ", proc.stdout, re.M).group(1))
                total = float(re.search(r"^total: +([0-9.]+) bits", proc.stdout, re.M).group(1))
                self.assertEqual(bpd, round(expected.bits_per_dim, 4))
                self.assertAlmostEqual(total, expected.total_bits, delta=0.0051)
                self.assertTrue(os.path.getsize(self.path("map-%s.png" % z)) > 0)


if __name__ == "__main__":
    unittest.main()
