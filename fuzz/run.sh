#!/usr/bin/env bash
# Runs every fuzz target for MINUTES minutes (default 10), JOBS at a time (default 1),
# each growing its corpus in corpus/TARGET, then minimises the corpus (cargo fuzz cmin)
# so that what is committed stays small. Prints one line per target with its run
# count; a crash stops that target and leaves its input in artifacts/TARGET.
#
#   cargo install cargo-fuzz
#   fuzz/run.sh 10 2
#
# The targets need nightly features: stable enables them with RUSTC_BOOTSTRAP=1. The
# committed corpora are replayed by a plain `cargo test` (framer-tests/tests/corpus.rs).
set -uo pipefail
cd "$(dirname "$0")"
minutes=${1:-10}
jobs=${2:-1}
export RUSTC_BOOTSTRAP=1
cargo fuzz build >/dev/null 2>&1 || { echo "cargo fuzz build failed"; exit 1; }
mkdir -p logs
run_one() {
    local target=$1
    mkdir -p "corpus/$target"
    cargo fuzz run "$target" "corpus/$target" -- -max_total_time=$((minutes * 60)) \
        >"logs/$target.log" 2>&1
    local status=$?
    local runs
    runs=$(grep -o 'Done [0-9]* runs' "logs/$target.log" | tail -1)
    cargo fuzz cmin "$target" "corpus/$target" >>"logs/$target.log" 2>&1
    echo "$target: ${runs:-no runs} in ${minutes} min, exit $status, corpus $(ls "corpus/$target" | wc -l) inputs"
}
export -f run_one
export minutes
cargo fuzz list | xargs -P "$jobs" -I{} bash -c 'run_one {}'
