# The checks of the CLI test scripts (sourced by cli_test.sh and mpi_cli_test.sh): fail and
# pass count into $failures and $checks; expect runs a command into $tmp/out, under
# `timeout $EXPECT_TIMEOUT` when that is set.
failures=0
checks=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
pass() { checks=$((checks + 1)); }

# expect <exit status> <regex in stdout+stderr> <command...>
expect() {
    want=$1 pattern=$2
    shift 2
    if [ -n "${EXPECT_TIMEOUT:-}" ]; then
        timeout "$EXPECT_TIMEOUT" "$@" > "$tmp/out" 2>&1
    else
        "$@" > "$tmp/out" 2>&1
    fi
    got=$?
    if [ "$got" -ne "$want" ]; then
        fail "'$*' exited $got, expected $want"; sed 's/^/    /' "$tmp/out"
    elif ! grep -Eq -- "$pattern" "$tmp/out"; then
        fail "'$*': no /$pattern/ in its output"; sed 's/^/    /' "$tmp/out"
    else
        pass
    fi
}
