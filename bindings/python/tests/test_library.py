"""Library loading, the version handshake, the declared prototypes and the status mapping."""

import ctypes
import ctypes.util
import os
import pickle
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

import spatialpixelcnn as sp
from spatialpixelcnn import _errors, _ffi

import support

PACKAGE_DIR = os.path.dirname(os.path.abspath(sp.__file__))


def read_text(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def run_python(code, env_extra, cwd):
    env = dict(os.environ)
    env.update(env_extra)
    return subprocess.run([sys.executable, "-c", code], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=120)


class TestVersion(unittest.TestCase):
    def test_versions_agree(self):
        self.assertRegex(sp.library_version, r"^\d+\.\d+\.\d+$")
        major, minor, patch = (int(x) for x in sp.library_version.split("."))
        self.assertEqual(sp.library_version_number, major * 10000 + minor * 100 + patch)
        self.assertEqual(major, sp.ABI_MAJOR)
        self.assertEqual(sp.ABI_MAJOR, 0)
        self.assertGreaterEqual(sp.library_version_number, _ffi.MIN_VERSION)

    def test_header_version_matches(self):
        text = read_text(support.HEADER)
        parts = [int(re.search(r"#define SPCNN_VERSION_%s (\d+)" % k, text).group(1))
                 for k in ("MAJOR", "MINOR", "PATCH")]
        abi = int(re.search(r"#define SPCNN_ABI_VERSION (\d+)", text).group(1))
        self.assertEqual(sp.library_version, "%d.%d.%d" % tuple(parts))
        self.assertEqual(abi, sp.ABI_MAJOR)
        self.assertEqual(sp.__version__, sp.library_version)

    def test_library_path_is_spcnn_library(self):
        env = os.environ.get("SPCNN_LIBRARY")
        if not env:
            self.skipTest("SPCNN_LIBRARY is not set")
        self.assertEqual(os.path.realpath(sp.library_path), os.path.realpath(env))


# Functions of the header the package does not bind (yet). Empty: every function is bound.
# Keeping the list here makes a newly added header function fail this test until it is bound
# or listed.
NOT_YET_BOUND = frozenset()


class TestPrototypes(unittest.TestCase):
    def test_every_header_function_is_declared(self):
        text = read_text(support.HEADER)
        names = re.findall(r"SPCNN_API[^;(]*?\b(spcnn_[a-z0-9_]+)\s*\(", text)
        self.assertGreater(len(names), 20)
        names = [name for name in names if name not in NOT_YET_BOUND]
        for name in names:
            with self.subTest(name=name):
                fn = getattr(_ffi.lib, name, None)
                self.assertIsNotNone(fn, "%s is not declared in _ffi.py" % name)
                self.assertIsNotNone(fn.argtypes, "%s has no argtypes" % name)
                returns_status = re.search(r"SPCNN_API\s+spcnn_status\s+%s\s*\(" % name, text)
                if returns_status:
                    self.assertIs(fn.restype, ctypes.c_int)
                    self.assertIsNotNone(fn.errcheck, "%s: status is not checked" % name)
        declared = re.findall(r'^\s*d\("(spcnn_[a-z0-9_]+)"', read_text(_ffi.__file__), re.M)
        self.assertEqual(sorted(declared), sorted(names))

    def test_handles_are_distinct_types(self):
        self.assertTrue(issubclass(_ffi._ConfigPtr, ctypes.c_void_p))
        self.assertTrue(issubclass(_ffi._ModelPtr, ctypes.c_void_p))
        create = _ffi.lib.spcnn_model_create
        self.assertEqual(create.argtypes[0], _ffi._ConfigPtr)
        # A model handle where a configuration is expected is refused by ctypes itself.
        with self.assertRaises(ctypes.ArgumentError):
            _ffi.lib.spcnn_config_destroy(_ffi._ModelPtr())


class TestLoading(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="spcnn-py-load-",
                                    dir=os.environ.get("SPCNN_TEST_TMP"))
        self.addCleanup(shutil.rmtree, self.tmp, True)
        # A copy of the package outside the source tree: no build/ next to it.
        shutil.copytree(PACKAGE_DIR, os.path.join(self.tmp, "spatialpixelcnn"),
                        ignore=shutil.ignore_patterns("__pycache__", "*.so*"))

    def test_import_error_names_every_place(self):
        bogus = os.path.join(self.tmp, "nowhere", "libspatialpixelcnn.so.0")
        proc = run_python("import spatialpixelcnn", {"SPCNN_LIBRARY": bogus,
                                                     "PYTHONPATH": self.tmp}, self.tmp)
        if proc.returncode == 0:
            self.skipTest("a system copy of the library is installed")
        self.assertIn("ImportError", proc.stderr)
        self.assertIn("$SPCNN_LIBRARY: %s: no such file" % bogus, proc.stderr)
        self.assertIn("next to the package: %s" % os.path.join(
            self.tmp, "spatialpixelcnn", _ffi.SONAME), proc.stderr)
        self.assertIn("system (dynamic loader): " + _ffi.SONAME, proc.stderr)
        self.assertIn("Set SPCNN_LIBRARY", proc.stderr)

    def test_library_next_to_the_package(self):
        shutil.copy(sp.library_path, os.path.join(self.tmp, "spatialpixelcnn", _ffi.SONAME))
        code = "import spatialpixelcnn as s; print(s.library_path)"
        env = {"PYTHONPATH": self.tmp, "SPCNN_LIBRARY": ""}
        proc = run_python(code, env, self.tmp)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(proc.stdout.strip(),
                         os.path.join(self.tmp, "spatialpixelcnn", _ffi.SONAME))

    def test_library_installed_with_the_package(self):
        # What cmake --install writes: _installed.py with the library's path relative to the
        # package (here a <prefix>/lib beside a <prefix>/lib/python3/dist-packages).
        site = os.path.join(self.tmp, "prefix", "lib", "python3", "dist-packages")
        os.makedirs(site)
        package = os.path.join(site, "spatialpixelcnn")
        shutil.move(os.path.join(self.tmp, "spatialpixelcnn"), package)
        shutil.copy(sp.library_path, os.path.join(self.tmp, "prefix", "lib", _ffi.SONAME))
        with open(os.path.join(package, "_installed.py"), "w", encoding="utf-8") as f:
            f.write('LIBRARY = "../../../%s"\n' % _ffi.SONAME)
        code = "import spatialpixelcnn as s; print(s.library_path)"
        proc = run_python(code, {"PYTHONPATH": site, "SPCNN_LIBRARY": ""}, self.tmp)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(proc.stdout.strip(),
                         os.path.join(self.tmp, "prefix", "lib", _ffi.SONAME))
        # A library that moved away is reported by that name among the places tried.
        os.remove(os.path.join(self.tmp, "prefix", "lib", _ffi.SONAME))
        proc = run_python("import spatialpixelcnn", {"PYTHONPATH": site, "SPCNN_LIBRARY": ""},
                          self.tmp)
        if proc.returncode == 0:
            self.skipTest("a system copy of the library is installed")
        self.assertIn("installed with the package (cmake --install): %s: no such file"
                      % os.path.join(self.tmp, "prefix", "lib", _ffi.SONAME), proc.stderr)

    def test_not_our_library_is_refused(self):
        with self.assertRaisesRegex(OSError, "missing symbol spcnn_version_number"):
            _ffi._try_load(ctypes.util.find_library("m") or "libm.so.6")

    def test_no_numpy_switch(self):
        code = "import spatialpixelcnn as s; print(s.has_numpy())"
        env = {"SPCNN_PY_NO_NUMPY": "1", "SPCNN_LIBRARY": sp.library_path,
               "PYTHONPATH": self.tmp}
        proc = run_python(code, env, self.tmp)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(proc.stdout.strip(), "False")


class TestStatuses(unittest.TestCase):
    EXPECTED = {
        1: sp.InvalidArgumentError, 2: sp.OutOfMemoryError, 3: sp.BufferTooSmallError,
        4: sp.SpcnnIOError, 5: sp.FormatError, 6: sp.VersionError, 7: sp.UnsupportedError,
        8: sp.BackendError, 9: sp.NumericError, 10: sp.CancelledError, 11: sp.InternalError,
        12: sp.CommunicationError,
    }

    def test_one_class_per_status(self):
        self.assertEqual(len(set(self.EXPECTED.values())), 12)
        for status, cls in self.EXPECTED.items():
            with self.subTest(status=status):
                text = _ffi.lib.spcnn_status_string(status).decode()
                err = _errors.error_for_status(status, text, "detail %d" % status)
                self.assertIs(type(err), cls)
                self.assertIsInstance(err, sp.SpcnnError)
                self.assertEqual((err.status, err.status_string, err.message),
                                 (status, text, "detail %d" % status))
                self.assertEqual(str(err), "detail %d [%s]" % (status, text))
                again = pickle.loads(pickle.dumps(err))
                self.assertEqual((type(again), str(again)), (cls, str(err)))
        self.assertIs(type(_errors.error_for_status(99, "unknown status", "")), sp.SpcnnError)

    def test_python_bases(self):
        self.assertTrue(issubclass(sp.InvalidArgumentError, ValueError))
        self.assertTrue(issubclass(sp.SpcnnIOError, OSError))
        self.assertTrue(issubclass(sp.OutOfMemoryError, MemoryError))
        self.assertTrue(issubclass(sp.ClosedError, ValueError))
        self.assertFalse(issubclass(sp.ClosedError, sp.SpcnnError))

    def test_message_comes_from_the_library(self):
        cfg = _ffi._ConfigPtr()
        _ffi.lib.spcnn_config_create(ctypes.byref(cfg))
        try:
            with self.assertRaises(sp.InvalidArgumentError) as ctx:
                _ffi.lib.spcnn_config_set(cfg, 2, 0.0)  # nr_filters = 0
        finally:
            _ffi.lib.spcnn_config_destroy(cfg)
        err = ctx.exception
        self.assertEqual(err.status, 1)
        self.assertEqual(err.status_string, _ffi.lib.spcnn_status_string(1).decode())
        self.assertEqual(err.message, _ffi.lib.spcnn_last_error_message().decode())
        self.assertIn("nr_filters", err.message)

    def test_buffer_too_small(self):
        tmp = tempfile.mkdtemp(dir=os.environ.get("SPCNN_TEST_TMP"))
        self.addCleanup(shutil.rmtree, tmp, True)
        path = os.path.join(tmp, "a.png")
        sp.write_png(path, b"\x01" * 12, shape=(3, 4))
        buf = (ctypes.c_uint8 * 11)()
        h, w = ctypes.c_size_t(), ctypes.c_size_t()
        with self.assertRaises(sp.BufferTooSmallError) as ctx:
            _ffi.lib.spcnn_png_read(path.encode(), buf, 11, ctypes.byref(h), ctypes.byref(w))
        self.assertEqual((h.value, w.value), (3, 4))
        self.assertTrue(ctx.exception.message)


# A storm of SIGPROF (a Python handler, so CPython's C handler with SA_ONSTACK) during the
# classifier's oneDNN inner products, in a child process: without the alternate stack that
# the package installs at import, the child aborts in free() within a second (oneDNN #4845).
STORM = r"""
import signal
import spatialpixelcnn as sp
hits = [0]
def on_prof(*_):
    hits[0] += 1
signal.signal(signal.SIGPROF, on_prof)
signal.setitimer(signal.ITIMER_PROF, 0.00004, 0.00004)
c = sp.Classifier.create(14, 14, 4, seed=1)
images = bytes((i * 37) & 255 for i in range(16 * 196))
labels = bytes(i % 4 for i in range(16))
for _ in range(1500):
    c.train_step(images, labels, shape=(16, 14, 14))
    c.predict(images, shape=(16, 14, 14))
signal.setitimer(signal.ITIMER_PROF, 0, 0)
c.close()
print("signals", hits[0])
"""


class TestSignals(unittest.TestCase):
    def test_import_gives_the_thread_an_alternate_stack(self):
        current = _ffi._StackT()
        libc = ctypes.CDLL(None, use_errno=True)
        self.assertEqual(libc.sigaltstack(None, ctypes.byref(current)), 0)
        self.assertFalse(current.ss_flags & _ffi._SS_DISABLE)

    def test_signal_storm_during_calls(self):
        with tempfile.TemporaryDirectory() as cwd:
            r = run_python(STORM, {"PYTHONPATH": os.path.dirname(PACKAGE_DIR)}, cwd)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        hits = int(re.search(r"signals (\d+)", r.stdout).group(1))
        self.assertGreater(hits, 20, "the storm did not happen")


if __name__ == "__main__":
    unittest.main()
