"""SPCNN_ERR_IO as Python's OSError: errno, strerror, filename and the OSError subclasses.

Every call that takes a file name (Model.load/save, Classifier.load/save, read_png, write_png,
read_idx) is made to fail on a real file system: a missing file, a missing directory, a
directory where a file is expected, a file where a directory is expected, and (when not run as
root, which may read and write anything) a file without permission.
"""

import errno
import os
import pathlib
import pickle
import shutil
import tempfile
import unittest

import spatialpixelcnn as sp
from spatialpixelcnn import _errors

import support


class IOErrors(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="spcnn-py-io-", dir=os.environ.get("SPCNN_TEST_TMP"))
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.a_file = self.path("a-file")
        with open(self.a_file, "wb") as f:
            f.write(b"not a model")
        self.model = sp.Model.create(**support.TINY)
        self.addCleanup(self.model.close)
        self.classifier = sp.Classifier.create(12, 12, 2, seed=1)
        self.addCleanup(self.classifier.close)

    def path(self, *names):
        return os.path.join(self.tmp, *names)

    def calls(self):
        """(name, call taking a path) for every function of the package that takes a file name."""
        pixels = b"\0" * 64
        return [
            ("Model.load", sp.Model.load),
            ("Model.save", self.model.save),
            ("Classifier.load", sp.Classifier.load),
            ("Classifier.save", self.classifier.save),
            ("read_png", sp.read_png),
            ("write_png", lambda p: sp.write_png(p, pixels, shape=(8, 8))),
            ("read_idx", sp.read_idx),
        ]

    def check(self, call, path, cls, builtin, code):
        with self.assertRaises(cls) as ctx:
            call(path)
        err = ctx.exception
        # Still the SPCNN_ERR_IO exception of before, and now the Python one too.
        self.assertIsInstance(err, sp.SpcnnIOError)
        self.assertIsInstance(err, builtin)
        self.assertEqual(err.status, 4)
        self.assertEqual(err.errno, code)
        self.assertEqual(err.strerror, os.strerror(code))
        self.assertEqual(err.filename, os.fspath(path))
        self.assertIn(os.strerror(code), err.message)
        again = pickle.loads(pickle.dumps(err))
        self.assertEqual((type(again), again.errno, again.filename, str(again)),
                         (type(err), err.errno, err.filename, str(err)))
        return err

    def test_missing_file_is_file_not_found(self):
        reading = ("Model.load", "Classifier.load", "read_png", "read_idx")
        for name, call in self.calls():
            with self.subTest(call=name):
                # A file that is not there (for reading), a directory that is not there (both).
                if name in reading:
                    self.check(call, self.path("missing"), sp.SpcnnFileNotFoundError,
                               FileNotFoundError, errno.ENOENT)
                self.check(call, self.path("no", "such", "dir", "f"), sp.SpcnnFileNotFoundError,
                           FileNotFoundError, errno.ENOENT)
        # The way a caller would write it.
        try:
            sp.Model.load(self.path("missing.spcnn"))
        except FileNotFoundError as exc:
            self.assertEqual(exc.filename, self.path("missing.spcnn"))
        else:
            self.fail("no FileNotFoundError")

    def test_filename_is_the_path_as_given(self):
        for given in (self.path("m"), os.fsencode(self.path("m")), pathlib.Path(self.path("m"))):
            with self.subTest(type=type(given).__name__):
                err = self.check(sp.Model.load, given, sp.SpcnnFileNotFoundError,
                                 FileNotFoundError, errno.ENOENT)
                self.assertIs(type(err.filename), type(os.fspath(given)))

    def test_directory_and_not_a_directory(self):
        reading = {"Model.load", "Classifier.load", "read_png", "read_idx"}
        for name, call in self.calls():
            with self.subTest(call=name):
                if name in reading:
                    self.check(call, self.tmp, sp.SpcnnIsADirectoryError, IsADirectoryError,
                               errno.EISDIR)
                self.check(call, os.path.join(self.a_file, "x"), sp.SpcnnNotADirectoryError,
                           NotADirectoryError, errno.ENOTDIR)

    @unittest.skipIf(os.geteuid() == 0, "run as root: file permissions do not apply")
    def test_permission(self):
        locked = self.path("locked")
        os.mkdir(locked)
        unreadable = os.path.join(locked, "f")
        with open(unreadable, "wb") as f:
            f.write(b"x")
        os.chmod(unreadable, 0)
        os.chmod(locked, 0o500)  # no new files in it
        self.addCleanup(os.chmod, locked, 0o700)
        for name, call in self.calls():
            with self.subTest(call=name):
                target = unreadable if "load" in name or "read" in name else self.path(
                    "locked", "new")
                self.check(call, target, sp.SpcnnPermissionError, PermissionError, errno.EACCES)

    def test_other_errors_are_plain_io_errors(self):
        # Decided from the library's message alone: the errno whose strerror ends it.
        cases = [
            ("model_load: m: %s" % os.strerror(errno.EACCES), sp.SpcnnPermissionError,
             errno.EACCES),
            ("model: m: cannot create m.tmp-1-2: %s" % os.strerror(errno.EPERM),
             sp.SpcnnPermissionError, errno.EPERM),
            ("model: m: writing m.tmp: %s" % os.strerror(errno.ENOSPC), sp.SpcnnIOError,
             errno.ENOSPC),
            ("png: p: read error (%s)" % os.strerror(errno.EIO), sp.SpcnnIOError, errno.EIO),
            ("png: p: read error (libpng: some text)", sp.SpcnnIOError, None),
            ("idx: %s: read error" % os.strerror(errno.ENOENT), sp.SpcnnIOError, None),
            ("", sp.SpcnnIOError, None),
        ]
        for message, cls, code in cases:
            with self.subTest(message=message):
                err = _errors.error_for_status(4, "input/output error", message)
                self.assertIs(type(err), cls)
                self.assertEqual(err.errno, code)
                self.assertEqual(err.strerror, None if code is None else os.strerror(code))
                self.assertIsNone(err.filename)
                self.assertEqual(str(err), "%s [input/output error]" % message if message
                                 else "input/output error")

    def test_errors_without_a_file_keep_filename_none(self):
        with self.assertRaises(sp.InvalidArgumentError) as ctx:
            self.model.generate(1, 1, 1)
        self.assertFalse(hasattr(ctx.exception, "filename"))
        err = _errors.error_for_status(4, "input/output error", "x")
        self.assertEqual((err.errno, err.strerror, err.filename), (None, None, None))


if __name__ == "__main__":
    unittest.main()
