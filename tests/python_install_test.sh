#!/bin/sh
# The Python package installed as a user would install it, then imported and used away from
# the source tree with a tiny model. Two modes, one ctest test each:
#   prefix: `cmake --install` into a temporary prefix (library and package); import the
#           package with only PYTHONPATH set to the installed site directory (no
#           LD_LIBRARY_PATH, no SPCNN_LIBRARY: it finds the library installed with it), then
#           again after moving the whole prefix elsewhere.
#   pip:    a temporary venv (--system-site-packages) and `pip install --no-build-isolation`
#           of bindings/python (offline: --no-index); the library from a temporary prefix
#           through LD_LIBRARY_PATH. Exits 77 (skipped) when venv, pip or setuptools is
#           missing, saying which Debian package provides it.
# Usage: python_install_test.sh prefix|pip <build dir> <source dir> <python> <libdir>
#                               <site dir> <abi> <version> <cmake>
#   libdir:   CMAKE_INSTALL_LIBDIR; site dir: where the build installs the package (relative)
set -eu
export LC_ALL=C

if [ $# -ne 9 ]; then
    echo "usage: $0 prefix|pip <build dir> <source dir> <python> <libdir> <site dir> <abi>" \
        "<version> <cmake>" >&2
    exit 2
fi
mode=$1 build=$(cd "$2" && pwd) src=$(cd "$3" && pwd)
python=$4 libdir=$5 site=$6 abi=$7 version=$8 cmake=$9
tmp=$(mktemp -d "${TMPDIR:-/tmp}/spcnn-pyinstall.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
skip() { echo "SKIPPED: $*"; exit 77; }
run() { echo "+ $*"; "$@"; }
# Nothing from the caller's environment decides which package or library is used.
unset PYTHONPATH SPCNN_LIBRARY LD_LIBRARY_PATH PYTHONHOME PYTHONUSERBASE
export PYTHONDONTWRITEBYTECODE=1 PYTHONNOUSERSITE=1 OMP_WAIT_POLICY=passive

prefix=$tmp/prefix
run "$cmake" --install "$build" --prefix "$prefix" > "$tmp/install.log" ||
    { cat "$tmp/install.log"; fail "cmake --install"; }
lib=$prefix/$libdir/libspatialpixelcnn.so.$abi
[ -e "$lib" ] || fail "not installed: $lib"

# The check, run by the interpreter under test in $tmp (not the source tree): the package
# comes from where it was installed, the library from the prefix, and a tiny model trains a
# step, generates three images twice (the same bytes) and survives save and load.
cat > "$tmp/use.py" << 'EOF'
import os, sys
import spatialpixelcnn as sp

package_dir, library, version = sys.argv[1:4]
here = os.path.dirname(os.path.realpath(sp.__file__))
assert here == os.path.realpath(package_dir), "package imported from %s, not %s" % (
    here, package_dir)
assert os.path.realpath(sp.library_path) == os.path.realpath(library), (
    "library loaded from %s, not %s" % (sp.library_path, library))
assert sp.__version__ == version == sp.library_version, (sp.__version__, sp.library_version)
tiny = dict(patch_size=8, image_size=8, nr_filters=4, nr_resnet=1, nr_mix=2, latent_size=3,
            batch_size=4, seed=7)
with sp.Model.create(**tiny) as model:
    model.train_step(bytes(range(256)), shape=(4, 8, 8))
    a = model.generate(3, 12, 10, seed=5)
    b = model.generate(3, 12, 10, seed=5)
    model.save("tiny.spcnn")
with sp.Model.load("tiny.spcnn") as model:
    c = model.generate(3, 12, 10, seed=5)
shape = getattr(a, "shape", None)
assert tuple(shape) == (3, 12, 10), shape
flat = lambda x: x.tobytes() if hasattr(x, "tobytes") else x.data  # numpy array or sp.Raw
assert flat(a) == flat(b) == flat(c), "generation is not reproducible"
try:
    sp.Model.load("missing.spcnn")
    raise AssertionError("loading a missing file succeeded")
except FileNotFoundError as exc:
    assert exc.filename == "missing.spcnn", exc.filename
print("imported %s %s from %s; library %s; numpy %s; 3 images of 12x10 generated"
      % (sp.__name__, sp.__version__, here, sp.library_path, sp.has_numpy()))
EOF

case $mode in
prefix)
    pkg=$prefix/$site/spatialpixelcnn
    [ -f "$pkg/__init__.py" ] || fail "not installed: $site/spatialpixelcnn/__init__.py"
    [ -f "$pkg/_installed.py" ] || fail "not installed: $site/spatialpixelcnn/_installed.py"
    # Exactly the package's modules, plus _installed.py: no caches, no stray files.
    (cd "$src/bindings/python/spatialpixelcnn" && ls ./*.py; echo ./_installed.py) |
        sort > "$tmp/expected"
    (cd "$pkg" && find . -type f | sort) > "$tmp/got"
    cmp -s "$tmp/expected" "$tmp/got" ||
        { diff "$tmp/expected" "$tmp/got"; fail "installed files differ from the package's"; }
    echo "installed: $site/spatialpixelcnn ($(wc -l < "$tmp/got") files); $(tail -1 "$pkg/_installed.py")"
    (cd "$tmp" && PYTHONPATH=$prefix/$site run "$python" "$tmp/use.py" "$pkg" "$lib" \
        "$version") || fail "the installed package"
    # Relocated: the package finds the library relative to itself.
    mv "$prefix" "$tmp/moved"
    (cd "$tmp" && PYTHONPATH=$tmp/moved/$site run "$python" "$tmp/use.py" \
        "$tmp/moved/$site/spatialpixelcnn" "$tmp/moved/$libdir/libspatialpixelcnn.so.$abi" \
        "$version") || fail "the installed package, moved"
    ;;
pip)
    venv=$tmp/venv
    if ! "$python" -m venv --system-site-packages "$venv" > "$tmp/venv.log" 2>&1; then
        cat "$tmp/venv.log"
        skip "$python -m venv does not work (Debian: python3-venv)"
    fi
    "$venv/bin/python" -m pip --version > /dev/null 2>&1 ||
        skip "no pip in the venv (Debian: python3-venv, python3-pip)"
    "$venv/bin/python" -c "import setuptools.build_meta" > /dev/null 2>&1 ||
        skip "setuptools is not importable (Debian: python3-setuptools)"
    # setuptools before 70.1 builds wheels with the wheel package's bdist_wheel.
    "$venv/bin/python" -c "import setuptools.command.bdist_wheel" > /dev/null 2>&1 ||
        "$venv/bin/python" -c "import wheel.bdist_wheel" > /dev/null 2>&1 ||
        skip "no bdist_wheel for setuptools (Debian: python3-wheel)"
    # pip's own settings of this machine (PIP_* variables, pip.conf: extra indexes, links)
    # stay out of it; --no-index keeps it offline.
    for v in $(env | sed -n 's/^\(PIP_[A-Za-z0-9_]*\)=.*/\1/p'); do unset "$v"; done
    export PIP_CONFIG_FILE=/dev/null
    # A copy of bindings/python: pip builds in the source directory (build/, *.egg-info), and
    # the tree under test stays untouched. Leftovers of a build by hand are not copied.
    cp -R "$src/bindings/python" "$tmp/src"
    rm -rf "$tmp/src/build" "$tmp/src"/*.egg-info "$tmp/src/tests"
    run "$venv/bin/python" -m pip install --no-build-isolation --no-index --no-deps \
        --disable-pip-version-check "$tmp/src" > "$tmp/pip.log" 2>&1 ||
        { cat "$tmp/pip.log"; fail "pip install --no-build-isolation"; }
    pkg=$("$venv/bin/python" -c "import sysconfig; print(sysconfig.get_path('purelib'))")/spatialpixelcnn
    [ -f "$pkg/__init__.py" ] || fail "pip did not install $pkg/__init__.py"
    [ ! -e "$pkg/_installed.py" ] || fail "pip installed _installed.py"
    got=$("$venv/bin/python" -c "import importlib.metadata as m; print(m.version('spatialpixelcnn'))")
    [ "$got" = "$version" ] || fail "pip installed version '$got', expected '$version'"
    echo "pip installed spatialpixelcnn $got into $pkg"
    (cd "$tmp" && LD_LIBRARY_PATH=$prefix/$libdir run "$venv/bin/python" "$tmp/use.py" "$pkg" \
        "$lib" "$version") || fail "the pip-installed package"
    ;;
*)
    fail "unknown mode '$mode'"
    ;;
esac
echo "python install test ($mode) passed"
