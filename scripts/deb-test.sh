#!/usr/bin/env bash
# The Debian package, installed on a clean Debian 12 as a user would install it.
#
# Builds the .deb here (cmake -DCMAKE_INSTALL_PREFIX=/usr without tests and benchmarks, then
# cpack -G DEB; the tarball too, cpack -G TGZ), then, in a minimal Debian 12 root from
# Debian's archive (scripts/lib/debian-root.sh, the fresh-machine test's root):
#   1. apt-get install ./spatialpixelcnn_<version>_<arch>.deb, nothing else: the package's
#      Depends must bring everything the library and spcnn need;
#   2. spcnn --version, spcnn info and spcnn sample with the installed model, and the
#      installed files: man page, classifiers, the library in the ld.so cache;
#   3. a C consumer (tests/consumer/consumer.c) compiled against the installed header and
#      library with pkg-config, after installing gcc, libc6-dev and pkg-config, and run.
# Prints the time of each step and fails on the first error, naming the step.
#
# usage: scripts/deb-test.sh
#
#   SPCNN_DEB_BUILD_DIR=DIR   the build directory for the package (default build-deb)
#   SPCNN_FRESH_CACHE=DIR     where the base root's tarball is kept (see debian-root.sh)
#   SPCNN_FRESH_KEEP=1        keep the root afterwards (its path is printed) to look around
#
# Needs root (chroot and mounts), mmdebstrap, what the build needs (scripts/install-deps.sh),
# and network access to Debian's archive, nothing else.
set -euo pipefail
cd "$(dirname "$0")/.."

case "${1:-}" in
"") ;;
-h | --help)
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
    exit 0
    ;;
*)
    echo "usage: scripts/deb-test.sh" >&2
    exit 2
    ;;
esac

debroot_name="deb-test"
# shellcheck source=scripts/lib/debian-root.sh
. scripts/lib/debian-root.sh
debroot_setup cmake cpack dpkg-deb

build=${SPCNN_DEB_BUILD_DIR:-build-deb}
step "configure $build (prefix /usr)" \
    cmake -S . -B "$build" -DCMAKE_INSTALL_PREFIX=/usr \
    -DSPCNN_BUILD_TESTS=OFF -DSPCNN_BUILD_BENCH=OFF -DSPCNN_WERROR=ON
step "build" cmake --build "$build" -j"$(nproc)"

version=$(sed -n 's/^CMAKE_PROJECT_VERSION:STATIC=//p' "$build/CMakeCache.txt")
arch=$(dpkg --print-architecture)
deb=spatialpixelcnn_${version}_$arch.deb
tgz=spatialpixelcnn-$version-Linux.tar.gz
package() {
    rm -f "$build/$deb" "$build/$tgz"
    (cd "$build" && cpack -G DEB && cpack -G TGZ)
    dpkg-deb --info "$build/$deb"
    dpkg-deb --contents "$build/$deb"
    tar -tzf "$build/$tgz" | grep "/bin/spcnn$" || die "$tgz holds no bin/spcnn"
}
step "cpack -G DEB, cpack -G TGZ" package

debroot_base
unpack() {
    debroot_unpack
    cp "$build/$deb" "$debroot_dir/root/"
    cp tests/consumer/consumer.c "$debroot_dir/root/"
}
step "unpack the root" unpack

# Only the package and what its Depends pull in (no Recommends).
step "apt-get install ./$deb" debroot_run "apt-get update -q &&
    DEBIAN_FRONTEND=noninteractive apt-get install -q -y --no-install-recommends ./$deb"

share=/usr/share/spatialpixelcnn
check_version() {
    local out
    out=$(debroot_run "spcnn --version")
    echo "$out"
    [ "$out" = "spcnn $version (libspatialpixelcnn $version)" ] || die "spcnn --version: '$out'"
}
step "spcnn --version" check_version
step "spcnn info $share/mnist.spcnn" debroot_run "spcnn info $share/mnist.spcnn"
step "spcnn sample (4 digits, 28x28)" debroot_run "
    spcnn sample --model $share/mnist.spcnn --size 28 --count 4 --out /tmp/x.png &&
    ls -l /tmp/x.png && [ \"\$(head -c 4 /tmp/x.png | tail -c 3)\" = PNG ]"
step "installed files" debroot_run "
    dpkg -L spatialpixelcnn | grep -q '^/usr/share/man/man1/spcnn\.1' &&
    test -s $share/lenet-mnist.spcls && test -s $share/lenet-fashion-mnist.spcls &&
    ldconfig -p | grep 'libspatialpixelcnn\.so\.0 '"

# The -dev parts: compile and run a consumer with nothing but the installed header, library
# and .pc file.
step "apt-get install gcc libc6-dev pkg-config" debroot_run "
    DEBIAN_FRONTEND=noninteractive apt-get install -q -y --no-install-recommends \
        gcc libc6-dev pkg-config"
consumer() {
    local out
    # shellcheck disable=SC2016 # expanded in the root, not here
    debroot_run 'pkg-config --modversion spatialpixelcnn &&
        flags=$(pkg-config --cflags --libs spatialpixelcnn) && echo "flags: $flags" &&
        cc -std=c99 -Wall -Wextra -Werror -o consumer consumer.c $flags'
    out=$(debroot_run ./consumer)
    echo "$out"
    [ "$out" = "spatialpixelcnn $version nr_filters=25" ] || die "consumer printed '$out'"
}
step "C consumer with pkg-config" consumer
current=""
