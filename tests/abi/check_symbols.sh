#!/bin/sh
# ABI check: the functions the shared library exports must be exactly the functions the public
# header declares (SPCNN_API ... spcnn_xxx(...)) and exactly the committed list symbols.txt.
# Any exported symbol outside the spcnn_ prefix, or in the internal spcnn__ namespace, fails.
# Usage: check_symbols.sh <libspatialpixelcnn.so> <spatialpixelcnn.h> <symbols.txt>
# When you add a public function, add its name to symbols.txt (docs/abi.md, "Adding a symbol").
set -eu
export LC_ALL=C

if [ $# -ne 3 ]; then
    echo "usage: $0 <shared library> <header> <symbols.txt>" >&2
    exit 2
fi
lib=$1 header=$2 list=$3
for f in "$lib" "$header" "$list"; do
    [ -r "$f" ] || { echo "check_symbols: cannot read $f" >&2; exit 2; }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Defined dynamic symbols as "TYPE NAME", without @@VERSION. Type A entries named like a
# version node (SPCNN_0) are the linker script's version definitions, not symbols.
"${NM:-nm}" -D --defined-only "$lib" | awk '{ sub(/@.*/, "", $3); print $2, $3 }' |
    grep -Ev '^A SPCNN_[0-9]+$' > "$tmp/all" || true
[ -s "$tmp/all" ] || { echo "check_symbols: nm found no exported symbols in $lib" >&2; exit 1; }

status=0
bad=$(awk '$2 !~ /^spcnn_/ || $2 ~ /^spcnn__/' "$tmp/all")
if [ -n "$bad" ]; then
    echo "FAIL: exported symbols outside the public spcnn_ namespace (type name):"
    echo "$bad" | sed 's/^/    /'
    status=1
fi
data=$(awk '$1 !~ /^[TWi]$/' "$tmp/all")
if [ -n "$data" ]; then
    echo "FAIL: exported symbols that are not functions (the ABI exports functions only):"
    echo "$data" | sed 's/^/    /'
    status=1
fi
awk '$1 ~ /^[TWi]$/ { print $2 }' "$tmp/all" | sort -u > "$tmp/exported"

# Function names declared in the header: drop preprocessor lines and comments, join the rest,
# then take the identifier in front of the first '(' of every SPCNN_API declaration.
grep -v '^[[:space:]]*#' "$header" | tr '\n' ' ' |
    sed -e 's:/\*\([^*]\|\*\+[^*/]\)*\*\+/: :g' |
    grep -o 'SPCNN_API[^;(]*(' | grep -o 'spcnn_[A-Za-z0-9_]*[[:space:]]*($' |
    sed 's/[[:space:]]*($//' | sort -u > "$tmp/header"

grep -Ev '^[[:space:]]*(#|$)' "$list" | sed 's/[[:space:]]//g' | sort -u > "$tmp/committed"

compare() { # compare <file a> <label a> <file b> <label b>
    if ! diff -u --label "$2" --label "$4" "$1" "$3" > "$tmp/diff"; then
        echo "FAIL: $2 and $4 differ ('-' only in $2, '+' only in $4):"
        sed 's/^/    /' "$tmp/diff"
        status=1
    fi
}
compare "$tmp/committed" "tests/abi/symbols.txt" "$tmp/exported" "exported by $(basename "$lib")"
compare "$tmp/header" "declared in $(basename "$header")" "$tmp/exported" \
    "exported by $(basename "$lib")"

echo "check_symbols: $(wc -l < "$tmp/exported") exported functions, \
$(wc -l < "$tmp/header") declared, $(wc -l < "$tmp/committed") committed"
if [ $status -ne 0 ]; then
    echo "If the change is intended, follow docs/abi.md (\"Adding a symbol\")."
fi
exit $status
