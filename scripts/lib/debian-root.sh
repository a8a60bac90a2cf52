# shellcheck shell=bash
# A clean Debian 12 to run commands in, for the tests that play a fresh machine:
# scripts/fresh-machine-test.sh and scripts/deb-test.sh source this file.
#
# A minimal root from Debian's archive (mmdebstrap --variant=minbase bookworm, with
# bookworm-updates and bookworm-security: no compiler, no Python, no certificates, no sudo),
# cached as a tarball; each test unpacks a copy, puts in it this machine's resolver and the
# certificate authorities its administrator added, mounts /proc, /sys and /dev, and removes it
# all when the test ends. Steps are timed; the first failure is named.
#
# In a bash script running `set -euo pipefail` as root:
#
#   debroot_name=my-test          the test's name in messages
#   . scripts/lib/debian-root.sh
#   debroot_setup                 checks (root, mmdebstrap, tar), the work directory, the EXIT trap
#   debroot_base                  the base tarball, built (a timed step) when it is not cached
#   debroot_unpack                unpack it into $debroot_dir and set it up as above
#   debroot_run 'COMMANDS'        run COMMANDS with bash as root in the root, clean environment
#   step NAME COMMAND [ARGS...]   run a command as a timed step that names itself on failure
#   die MESSAGE
#
#   SPCNN_FRESH_CACHE=DIR   where the base tarball is kept (default /var/cache/spcnn-fresh-machine);
#                           delete bookworm-minbase.tar in it to rebuild it
#   SPCNN_FRESH_KEEP=1      keep the root afterwards (its path is printed) to look around

debroot_name=${debroot_name:-debian-root}
debroot_cache=${SPCNN_FRESH_CACHE:-/var/cache/spcnn-fresh-machine}
debroot_tar=$debroot_cache/bookworm-minbase.tar
debroot_work=
debroot_dir=
debroot_mounts=()
debroot_timings=()
current=setup

die() {
    echo "$debroot_name: FAILED: $*" >&2
    exit 1
}

debroot_setup() {
    [ "$(id -u)" -eq 0 ] || die "run as root (it builds a chroot and mounts /proc in it)"
    local tool
    for tool in mmdebstrap tar "$@"; do
        command -v "$tool" > /dev/null || die "$tool is needed (apt-get install $tool)"
    done
    debroot_work=$(mktemp -d "/var/tmp/spcnn-$debroot_name.XXXXXX")
    debroot_dir=$debroot_work/root
    trap debroot_finish EXIT
}

debroot_finish() {
    local rc=$? i m
    for ((i = ${#debroot_mounts[@]} - 1; i >= 0; i--)); do
        umount -R "${debroot_mounts[i]}" 2> /dev/null ||
            umount -R -l "${debroot_mounts[i]}" 2> /dev/null || true
    done
    echo
    echo "== $debroot_name steps (seconds)"
    for m in "${debroot_timings[@]}"; do
        echo "   $m"
    done
    if [ $rc -ne 0 ]; then
        echo "== FAILED in step: $current (exit $rc)"
    else
        echo "== all passed in $SECONDS s"
    fi
    if [ "${SPCNN_FRESH_KEEP:-0}" = 1 ]; then
        echo "== the root is kept: $debroot_dir"
    elif ! grep -q " $debroot_work/" /proc/mounts; then
        # Only after every mount is gone: never delete through a bind mount.
        rm -rf "$debroot_work"
    else
        echo "== $debroot_work still has mounts; not deleted" >&2
    fi
}

step() { # step <name> <command...>: run, time, and name the step on failure
    current=$1
    shift
    echo
    echo "== step: $current"
    local start=$SECONDS
    "$@"
    debroot_timings+=("$(printf '%-40s %5d' "$current" $((SECONDS - start)))")
}

# The base root: Debian 12 minbase, from Debian's archive only, with the security updates a
# fresh machine would have.
debroot_make_base() {
    mkdir -p "$debroot_cache"
    # mmdebstrap picks its output format from the name's extension ("x.tar.tmp" would give a
    # directory), so the format is named and the temporary name still ends in .tar.
    rm -rf "$debroot_cache/partial.tar"
    mmdebstrap --variant=minbase --mode=root --format=tar bookworm "$debroot_cache/partial.tar" \
        "deb http://deb.debian.org/debian bookworm main" \
        "deb http://deb.debian.org/debian bookworm-updates main" \
        "deb http://deb.debian.org/debian-security bookworm-security main"
    mv "$debroot_cache/partial.tar" "$debroot_tar"
}

debroot_base() {
    # Only a non-empty regular file is a usable cache: anything else (a directory left by an
    # older version of this script, an interrupted write) is removed and built again.
    if [ -e "$debroot_tar" ] && { [ ! -f "$debroot_tar" ] || [ ! -s "$debroot_tar" ]; }; then
        echo "== $debroot_tar is not a tarball; building it again"
        rm -rf "$debroot_tar"
    fi
    if [ ! -f "$debroot_tar" ]; then
        step "mmdebstrap a minimal Debian 12 root" debroot_make_base
    else
        echo "== base root: $debroot_tar (cached)"
    fi
}

debroot_unpack() {
    local root=$debroot_dir d
    mkdir -p "$root"
    tar -xf "$debroot_tar" -C "$root"
    # This machine's network settings go in, as they would be on any machine of its network:
    # its resolver, and the certificate authorities its administrator added (a machine behind
    # a TLS-inspecting proxy must trust the proxy's CA to reach the npm registry). Debian's
    # ca-certificates package, once something installs it, adds them to the trust store.
    cp /etc/resolv.conf "$root/etc/resolv.conf"
    if compgen -G "/usr/local/share/ca-certificates/*.crt" > /dev/null; then
        mkdir -p "$root/usr/local/share/ca-certificates"
        cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
    fi
    for d in proc sys dev dev/pts; do
        mkdir -p "$root/$d"
    done
    mount -t proc proc "$root/proc" && debroot_mounts+=("$root/proc")
    mount --rbind /sys "$root/sys" && debroot_mounts+=("$root/sys")
    mount --rbind /dev "$root/dev" && debroot_mounts+=("$root/dev")
}

debroot_run() { # a login shell's environment, as root, in the root's /root
    chroot "$debroot_dir" /usr/bin/env -i HOME=/root TERM=dumb LANG=C.UTF-8 \
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        /bin/bash -c "cd /root && $1"
}
