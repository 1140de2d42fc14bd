#!/usr/bin/env bash
# `make fuzz`: runs every fuzz target for FUZZ_SECONDS in turn, one process at a time, and prints what each did.
# Exits non-zero if any target crashed, hung, leaked or ran out of memory (the input is left in fuzz/artifacts/).
#
#   FUZZ_SECONDS    seconds per target (default 60)
#   FUZZ_TARGETS    which targets (default: all of them)
#   FUZZ_SANITIZER  address (default) or none
#
# Stable toolchain: cargo-fuzz passes `-Zsanitizer=address` to rustc, which the pinned stable compiler accepts with
# RUSTC_BOOTSTRAP=1 (its AddressSanitizer runtime ships with the standard library). See docs/fuzzing.md.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${FUZZ_SECONDS:-60}
targets=${FUZZ_TARGETS:-principal_arn token_query sigv4 audience_policy policy_oracle spki_jwk}
sanitizer=${FUZZ_SANITIZER:-address}
cargo=${CARGO:-cargo}
export RUSTC_BOOTSTRAP=1

if ! "$cargo" fuzz --version >/dev/null 2>&1; then
    echo "cargo-fuzz is missing: installing it (cargo install cargo-fuzz --locked)"
    "$cargo" install cargo-fuzz --locked
fi

# Its own target directory, so the sanitizer/coverage flags never invalidate the workspace build cache.
flags=(--sanitizer "$sanitizer" --target-dir fuzz/target)
"$cargo" fuzz build "${flags[@]}"

logs=fuzz/target/logs
mkdir -p "$logs"
final_stat() { sed -n "s/^stat::$1: *//p" "$2" | tail -1; }
rows=()
failed=0
for t in $targets; do
    mkdir -p "fuzz/corpus/$t" "fuzz/artifacts/$t"
    seeds=() dict=()
    [ -d "fuzz/seeds/$t" ] && seeds=("fuzz/seeds/$t")
    [ -f "fuzz/dicts/$t.dict" ] && dict=(-dict="fuzz/dicts/$t.dict")
    marker=$(mktemp)
    echo "== $t: ${seconds}s"
    status=0
    # New inputs go to the first directory (fuzz/corpus/$t); the committed seeds are only read.
    "$cargo" fuzz run "${flags[@]}" "$t" "fuzz/corpus/$t" "${seeds[@]}" -- \
        -max_total_time="$seconds" -timeout=10 -print_final_stats=1 "${dict[@]}" >"$logs/$t.log" 2>&1 || status=$?
    found=$(find "fuzz/artifacts/$t" -type f -newer "$marker" | sort)
    rm -f "$marker"
    execs=$(final_stat number_of_executed_units "$logs/$t.log")
    rate=$(final_stat average_exec_per_sec "$logs/$t.log")
    corpus=$(find "fuzz/corpus/$t" -type f | wc -l)
    if [ "$status" -ne 0 ] || [ -n "$found" ]; then
        failed=1
        tail -40 "$logs/$t.log"
        echo "FOUND in $t (exit $status): ${found:-see $logs/$t.log}"
        result="FOUND (exit $status) $(echo "$found" | xargs -r -n1 basename | tr '\n' ' ')"
    else
        result="nothing"
    fi
    echo "   executions ${execs:-?}, ${rate:-?} exec/s, corpus $corpus, $result"
    rows+=("$(printf '%-16s %8s %14s %8s %8s  %s' "$t" "$seconds" "${execs:-?}" "${rate:-?}" "$corpus" "$result")")
done

printf '\n%-16s %8s %14s %8s %8s  %s\n' target seconds executions exec/s corpus findings
printf '%s\n' "${rows[@]}"
echo "(logs in $logs/)"
exit "$failed"
