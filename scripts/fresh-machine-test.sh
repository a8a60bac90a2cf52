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

debroot_name=fresh-machine-test
# shellcheck source=scripts/lib/debian-root.sh
. scripts/lib/debian-root.sh
debroot_setup git

debroot_base
unpack() {
    debroot_unpack
    # A clean clone of what is committed: untracked and ignored files (build/, data/) stay out.
    git clone --quiet --no-hardlinks "$repo" "$debroot_dir/root/libspatialpixelcnn"
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
    debroot_run "cd /root/libspatialpixelcnn && $1"
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
