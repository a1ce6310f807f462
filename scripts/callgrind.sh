# shellcheck shell=bash
# Sourced by the scripts that count instructions with valgrind's callgrind: what runs a
# program under it and what reads a profile's total. The sourcing script defines `die`.

# callgrind OUT: sets `cg` to the command that runs a program under callgrind, profile
# to OUT, valgrind's own messages to OUT.log (the program's stderr stays its own). An
# array, not a function, so that `$!` is the program's own PID, which the signal must reach.
callgrind() {
    cg=(valgrind --tool=callgrind --callgrind-out-file="$1" --log-file="$1.log")
}

# Total instructions of a profile, as callgrind_annotate counts them.
total_ir() {
    local ir
    ir=$(awk '/^summary:/ { print $2; exit }' "$1")
    [[ -n "$ir" ]] || ir=$(awk '/^totals:/ { print $2; exit }' "$1")
    [[ "$ir" =~ ^[0-9]+$ ]] || die "no instruction count in $1"
    echo "$ir"
}
