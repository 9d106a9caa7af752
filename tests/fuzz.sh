#!/usr/bin/env bash
# Fuzzes the import's CSV reader and planner for a fixed time (default 120 s) with the property generators of
# shared/lifecycle/tests/csv_model (well-formed files with every awkward character and line ending, the same
# files with one byte inserted, arbitrary bytes) and prints executions, time and failures as one JSON line.
# A failure is shrunk to a minimal case and printed; keep it as a regression test.
# Usage: bash tests/fuzz.sh [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run --quiet --profile bench-fast --locked -p lifecycle --example fuzz_csv -- "${1:-120}"
