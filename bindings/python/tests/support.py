"""Shared helpers of the Python binding tests: the numpy switch, random images, temp files."""

import os
import random
import shutil
import subprocess
import tempfile
import unittest

import spatialpixelcnn as sp
from spatialpixelcnn import _marshal

NUMPY = _marshal.np  # None when numpy is missing or SPCNN_PY_NO_NUMPY=1 was set at import

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
HEADER = os.path.join(REPO, "include", "spatialpixelcnn.h")

#: The tiny model of the issue: fast enough for a unit test.
TINY = dict(patch_size=8, image_size=8, nr_filters=4, nr_resnet=1, nr_mix=2, latent_size=3,
            batch_size=4, seed=7)


class BothPaths:
    """Mixin: run a TestCase with numpy (if installed) and with the package's no-numpy path.

    A concrete class sets USE_NUMPY; setUp switches the package accordingly.
    """

    USE_NUMPY = True

    def setUp(self):
        super().setUp()
        if self.USE_NUMPY and NUMPY is None:
            self.skipTest("numpy is not available")
        self._saved_np = _marshal.np
        _marshal.np = NUMPY if self.USE_NUMPY else None
        self.addCleanup(setattr, _marshal, "np", self._saved_np)
        self.tmp = tempfile.mkdtemp(prefix="spcnn-py-", dir=os.environ.get("SPCNN_TEST_TMP"))
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def path(self, name):
        return os.path.join(self.tmp, name)


def trained_model(use_numpy, steps=2, **extra):
    """A TINY model (with extra keys) after a few steps on random 8x8 images, so the weights
    are not the init."""
    model = sp.Model.create(**dict(TINY, **extra))
    for step in range(steps):
        model.train_step(images((4, 8, 8), 30 + step, use_numpy))
    return model


def pixels_of(result):
    """The bytes of a numpy uint8 array or a Raw."""
    return bytes(flat(result))


def find_cli():
    """The spcnn program of the build that holds the loaded library (build/examples/spcnn), or
    $SPCNN_CLI."""
    env = os.environ.get("SPCNN_CLI")
    if env:
        return env
    build = os.path.dirname(os.path.dirname(os.path.realpath(sp.library_path)))
    return os.path.join(build, "examples", "spcnn")


class CliPaths(BothPaths):
    """Mixin: tests that run the spcnn program of the same build (skipped when it is not built,
    as in a library-only build). One path is enough: bytes and floats are compared as such."""

    USE_NUMPY = False

    def setUp(self):
        super().setUp()
        self.cli = find_cli()
        if not os.access(self.cli, os.X_OK):
            self.skipTest("the spcnn program is not built at %s (set SPCNN_CLI)" % self.cli)

    def run_cli(self, *args):
        env = dict(os.environ, OMP_WAIT_POLICY="passive")
        return subprocess.run([self.cli] + list(args), env=env, capture_output=True, text=True,
                              timeout=120)


def random_bytes(count, seed):
    rng = random.Random(seed)
    return bytes(rng.randrange(256) for _ in range(count))


def images(shape, seed, use_numpy):
    """Random pixels of shape (n, h, w) or (h, w): a numpy array or a Raw."""
    count = 1
    for d in shape:
        count *= d
    data = random_bytes(count, seed)
    if use_numpy:
        return NUMPY.frombuffer(data, dtype=NUMPY.uint8).reshape(shape).copy()
    return sp.Raw(data, tuple(shape))


def flat(result):
    """The values of a numpy array or Raw (bytes / array('f')) as a flat list."""
    if isinstance(result, sp.Raw):
        return list(result.data)
    if isinstance(result, list):
        return list(result)
    return [v.item() for v in result.reshape(-1)]


def shape_of(result):
    return tuple(result.shape)


def finite(values):
    return all(v == v and abs(v) != float("inf") for v in values)


def report(what, value, limit):
    """Print a margin the way the C tests do (tu_report), even when the test passes."""
    print("%s: worst error %.3g (limit %.3g)" % (what, value, limit))


def skip_unless_numpy(test):
    return unittest.skipIf(NUMPY is None, "numpy is not available")(test)
