#!/usr/bin/env bash
# Runs every check and test of the workspace on a fresh machine: formatting, clippy (-D warnings), docs
# (warnings are errors), and all unit, integration and end-to-end tests (real function binaries under an
# emulated Lambda Runtime API, moto for S3 and Secrets Manager, the Sisense simulator).
# Usage: bash tests/run.sh
set -euo pipefail
cd "$(dirname "$0")/.."

need() { command -v "$1" >/dev/null 2>&1 || { echo "missing: $1 ($2)" >&2; exit 1; }; }
need cargo "install Rust with rustup"
need python3 "install Python 3 with pip"
cargo fmt --version >/dev/null 2>&1 || rustup component add rustfmt
cargo clippy --version >/dev/null 2>&1 || rustup component add clippy

# moto 5.2.5: 5.2.1 answers CompleteMultipartUpload with the wrong XML root element, which the AWS SDK for
# Rust rejects (getmoto/moto#10055, fixed in a later release).
MOTO_VERSION=5.2.5
if ! command -v moto_server >/dev/null 2>&1 \
   || ! python3 -c "import moto, sys; sys.exit(moto.__version__ != '$MOTO_VERSION')" 2>/dev/null; then
  echo "== installing moto[server]==$MOTO_VERSION"
  python3 -m pip install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION"
fi

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy --all-targets -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo doc (warnings are errors)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked --quiet
echo "== cargo build --bins (the end-to-end tests run the function binaries)"
cargo build --workspace --bins --locked
echo "== cargo test"
cargo test --workspace --locked
