#!/bin/sh
# Install the built tree into a temporary prefix and build a consumer against it, as a third
# party would: once through the CMake package (find_package) and once through pkg-config.
# Both binaries must run and print the expected line. Nothing outside the prefix is used
# for spatialpixelcnn itself (the check fails if the consumer resolves another copy).
# Usage: install_test.sh <build dir> <source dir> <libdir> <version> <abi> <cmake> <cc> [flags]
#   libdir: CMAKE_INSTALL_LIBDIR of the build (lib, or lib/x86_64-linux-gnu for prefix /usr)
#   flags:  extra compile/link flags for the consumer (the sanitizer flags in an ASan build)
set -eu
export LC_ALL=C

if [ $# -lt 7 ]; then
    echo "usage: $0 <build dir> <source dir> <libdir> <version> <abi> <cmake> <cc> [flags]" >&2
    exit 2
fi
build=$(cd "$1" && pwd) src=$(cd "$2" && pwd)
libdir=$3 version=$4 abi=$5 cmake=$6 cc=$7 flags=${8:-}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/spcnn-install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix
fail() { echo "FAIL: $*"; exit 1; }
run() { echo "+ $*"; "$@"; }

# 1. Install and check the layout.
run "$cmake" --install "$build" --prefix "$prefix" > "$tmp/install.log" ||
    { cat "$tmp/install.log"; fail "cmake --install"; }
for f in include/spatialpixelcnn.h "$libdir/libspatialpixelcnn.so.$abi" \
         "$libdir/libspatialpixelcnn.so" \
         "$libdir/cmake/spatialpixelcnn/spatialpixelcnnConfig.cmake" \
         "$libdir/cmake/spatialpixelcnn/spatialpixelcnnConfigVersion.cmake" \
         "$libdir/cmake/spatialpixelcnn/spatialpixelcnnTargets.cmake" \
         "$libdir/pkgconfig/spatialpixelcnn.pc"; do
    [ -e "$prefix/$f" ] || fail "not installed: $f"
done
headers=$(find "$prefix/include" -type f | wc -l)
[ "$headers" -eq 1 ] || fail "$headers files installed under include/, expected only the header"
soname=$(readelf -d "$prefix/$libdir/libspatialpixelcnn.so.$abi" |
         sed -n 's/.*(SONAME).*\[\(.*\)\].*/\1/p')
[ "$soname" = "libspatialpixelcnn.so.$abi" ] || fail "SONAME is '$soname'"
echo "installed: $(cd "$prefix" && find . -type f -o -type l | sort | tr '\n' ' ')"
echo "SONAME: $soname"

expected="spatialpixelcnn $version nr_filters=25"
check_run() { # check_run <label> <binary>
    out=$(LD_LIBRARY_PATH="$prefix/$libdir" "$2") || fail "$1 consumer exited with $?: $out"
    [ "$out" = "$expected" ] || fail "$1 consumer printed '$out', expected '$expected'"
    resolved=$(LD_LIBRARY_PATH="$prefix/$libdir" ldd "$2" | awk '/libspatialpixelcnn/ { print $3 }')
    case $resolved in
        "$prefix"/*) ;;
        *) fail "$1 consumer loads '$resolved', not the installed copy" ;;
    esac
    echo "$1 consumer: $out (library $resolved)"
}

# 2. CMake consumer: find_package(spatialpixelcnn 0.1) from the prefix only.
mkdir "$tmp/cmake-consumer"
if ! (cd "$tmp/cmake-consumer" &&
      CFLAGS="$flags" LDFLAGS="$flags" run "$cmake" -S "$src/tests/consumer" -B . \
          -DCMAKE_C_COMPILER="$cc" -DCMAKE_PREFIX_PATH="$prefix" \
          -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF -DCMAKE_FIND_USE_SYSTEM_PACKAGE_REGISTRY=OFF &&
      run "$cmake" --build .) > "$tmp/cmake.log" 2>&1; then
    cat "$tmp/cmake.log"; fail "CMake consumer did not build"
fi
found=$(sed -n 's/^spatialpixelcnn_DIR:PATH=//p' "$tmp/cmake-consumer/CMakeCache.txt")
[ "$found" = "$prefix/$libdir/cmake/spatialpixelcnn" ] ||
    fail "find_package used '$found', not the installed package"
check_run CMake "$tmp/cmake-consumer/consumer"

# 3. pkg-config consumer: plain cc with the flags of the installed .pc file.
pc() { PKG_CONFIG_PATH="$prefix/$libdir/pkgconfig" pkg-config "$@" spatialpixelcnn; }
[ "$(pc --modversion)" = "$version" ] || fail "pkg-config --modversion is '$(pc --modversion)'"
pcflags=$(pc --cflags --libs) || fail "pkg-config spatialpixelcnn"
echo "pkg-config --cflags --libs: $pcflags"
# The private dependencies stay private: a dynamic link needs only the library, and nothing
# but `--static` names them (zlib among them: the file checksum is zlib's crc32_z).
case " $pcflags " in
    *" -lspatialpixelcnn "*) ;;
    *) fail "pkg-config --libs lacks -lspatialpixelcnn: $pcflags" ;;
esac
case " $pcflags " in
    *" -lz "* | *" -ldnnl "* | *png*) fail "pkg-config --libs names a private dependency: $pcflags" ;;
esac
pcstatic=$(pc --static --libs) || fail "pkg-config --static spatialpixelcnn"
echo "pkg-config --static --libs: $pcstatic"
for lib in -ldnnl -lz -lm; do
    case " $pcstatic " in
        *" $lib "*) ;;
        *) fail "pkg-config --static --libs lacks $lib: $pcstatic" ;;
    esac
done
case " $pcstatic " in
    *" -lpng"*) ;;
    *) fail "pkg-config --static --libs lacks libpng: $pcstatic" ;;
esac
if grep -Eq 'ZLIB|PNG|DNNL|OpenMP' "$prefix/$libdir/cmake/spatialpixelcnn/spatialpixelcnnTargets.cmake"; then
    fail "the exported CMake target names a private dependency"
fi
# shellcheck disable=SC2086 # word splitting of the flags is intended
run "$cc" -std=c99 -Wall -Wextra -Werror $flags -o "$tmp/pc-consumer" \
    "$src/tests/consumer/consumer.c" $pcflags || fail "pkg-config consumer did not build"
check_run pkg-config "$tmp/pc-consumer"
echo "install test passed"
