#!/usr/bin/env bash
# The README's quick start on a fresh Debian 12, as a newcomer would run it.
#
# Builds (or reuses) a minimal Debian 12 root from Debian's archive with mmdebstrap
# (--variant=minbase: no compiler, no Python, no certificates), puts a clean clone of this
# repository's HEAD in it, and runs in it, as root, the commands of README.md's "Quick start"
# block, one step per command: scripts/install-deps.sh, scripts/demo.sh, scripts/test.sh. The
# commands are read from README.md itself, so the README cannot drift from what is tested.
# Prints the time of each step and fails on the first error, naming the step.
#
# usage: scripts/fresh-machine-test.sh [--part]
#   --part   only prove the package list: install-deps, then configure, build and one test
#            (test_core) inside the clean root; no demo, no full test suite
#
#   SPCNN_FRESH_CACHE=DIR   where the base root's tarball is kept between runs
#                           (default /var/cache/spcnn-fresh-machine); delete it to rebuild
#   SPCNN_FRESH_KEEP=1      keep the root afterwards (its path is printed) to look around
#
# Needs root (chroot and mounts), mmdebstrap and git (apt-get install mmdebstrap git), and
# network access to Debian's archive and the npm registry, nothing else.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

part=0
case "${1:-}" in
"") ;;
--part) part=1 ;;
-h | --help)
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
    exit 0
    ;;
*)
    echo "usage: scripts/fresh-machine-test.sh [--part]" >&2
    exit 2
    ;;
esac

die() {
    echo "fresh-machine-test: FAILED: $*" >&2
    exit 1
}
[ "$(id -u)" -eq 0 ] || die "run as root (it builds a chroot and mounts /proc in it)"
for tool in mmdebstrap git tar; do
    command -v "$tool" > /dev/null || die "$tool is needed (apt-get install mmdebstrap git)"
done

cache=${SPCNN_FRESH_CACHE:-/var/cache/spcnn-fresh-machine}
base=$cache/bookworm-minbase.tar
work=$(mktemp -d /var/tmp/spcnn-fresh.XXXXXX)
root=$work/root
mounted=()
timings=()
current=setup

finish() {
    local rc=$?
    local m
    for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
        umount -R "${mounted[i]}" 2> /dev/null || umount -R -l "${mounted[i]}" 2> /dev/null || true
    done
    echo
    echo "== fresh-machine-test steps (seconds)"
    for m in "${timings[@]}"; do
        echo "   $m"
    done
    if [ $rc -ne 0 ]; then
        echo "== FAILED in step: $current (exit $rc)"
    else
        echo "== all passed in $SECONDS s"
    fi
    if [ "${SPCNN_FRESH_KEEP:-0}" = 1 ]; then
        echo "== the root is kept: $root"
    else
        # Only after every mount is gone: never delete through a bind mount.
        if ! grep -q " $work/" /proc/mounts; then
            rm -rf "$work"
        else
            echo "== $work still has mounts; not deleted" >&2
        fi
    fi
}
trap finish EXIT

step() { # step <name> <command...>: run, time, and name the step on failure
    current=$1
    shift
    echo
    echo "== step: $current"
    local start=$SECONDS
    "$@"
    timings+=("$(printf '%-40s %5d' "$current" $((SECONDS - start)))")
}

# The base root: Debian 12 minbase, from Debian's archive only, with the security updates a
# fresh machine would have.
make_base() {
    mkdir -p "$cache"
    mmdebstrap --variant=minbase --mode=root bookworm "$base.tmp" \
        "deb http://deb.debian.org/debian bookworm main" \
        "deb http://deb.debian.org/debian bookworm-updates main" \
        "deb http://deb.debian.org/debian-security bookworm-security main"
    mv "$base.tmp" "$base"
}
if [ ! -s "$base" ]; then
    step "mmdebstrap a minimal Debian 12 root" make_base
else
    echo "== base root: $base (cached)"
fi

unpack() {
    mkdir -p "$root"
    tar -xf "$base" -C "$root"
    # This machine's network settings go in, as they would be on any machine of its network:
    # its resolver, and the certificate authorities its administrator added (a machine behind
    # a TLS-inspecting proxy must trust the proxy's CA to reach the npm registry). Debian's
    # ca-certificates package, once install-deps installs it, adds them to the trust store.
    cp /etc/resolv.conf "$root/etc/resolv.conf"
    if compgen -G "/usr/local/share/ca-certificates/*.crt" > /dev/null; then
        mkdir -p "$root/usr/local/share/ca-certificates"
        cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
    fi
    for d in proc sys dev dev/pts; do
        mkdir -p "$root/$d"
    done
    mount -t proc proc "$root/proc" && mounted+=("$root/proc")
    mount --rbind /sys "$root/sys" && mounted+=("$root/sys")
    mount --rbind /dev "$root/dev" && mounted+=("$root/dev")
    # A clean clone of what is committed: untracked and ignored files (build/, data/) stay out.
    git clone --quiet --no-hardlinks "$repo" "$root/root/libspatialpixelcnn"
}
step "unpack the root and clone $(git rev-parse --short HEAD)" unpack

# The commands of README.md's quick start: the indented lines of the first block after the
# "## Quick start" heading, comments removed, each split at "&&" into steps.
mapfile -t readme_lines < <(awk '
    /^## Quick start/ { inside = 1; next }
    inside && /^## / { exit }
    inside && /^    [^ ]/ { sub(/^    /, ""); sub(/[ ]*#.*$/, ""); print; seen = 1; next }
    inside && seen && /^[^ ]/ { exit }' README.md)
commands=()
for line in "${readme_lines[@]}"; do
    while [[ "$line" == *"&&"* ]]; do
        commands+=("$(echo "${line%%&&*}" | sed 's/^ *//; s/ *$//')")
        line=${line#*&&}
    done
    commands+=("$(echo "$line" | sed 's/^ *//; s/ *$//')")
done
[ ${#commands[@]} -ge 2 ] || die "README.md: no quick-start commands found"
echo "== README quick start: ${commands[*]}"

in_root() { # the newcomer's shell: a login shell as root in the clone
    chroot "$root" /usr/bin/env -i HOME=/root TERM=dumb LANG=C.UTF-8 \
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        /bin/bash -c "cd /root/libspatialpixelcnn && $1"
}

if [ $part = 1 ]; then
    step "${commands[0]}" in_root "${commands[0]}"
    step "configure" in_root "cmake -S . -B build -DSPCNN_WERROR=ON"
    step "build" in_root 'cmake --build build -j"$(nproc)"'
    step "one test (test_core)" in_root "ctest --test-dir build --output-on-failure -R '^test_core\$'"
else
    for c in "${commands[@]}"; do
        step "$c" in_root "$c"
    done
fi
current=""
