#!/usr/bin/env bash
# Runs every check and test of the workspace on a fresh machine: the SAM template's linters (cfn-lint,
# checkov), formatting, clippy (-D warnings), docs (warnings are errors), all unit, integration and end-to-end
# tests (real function binaries under an emulated Lambda Runtime API, moto for S3 and Secrets Manager, the
# Sisense simulator, the CLI binary, headless Chromium for its HTML report; `cargo test` builds the binaries
# the end-to-end tests run), and the release build of the three Lambda binaries with cargo lambda.
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

# Headless Chromium renders the CLI's HTML access review in tests/tests/access_review.rs (Debian's package; the
# test tools' own browser downloads do not work on this network).
if ! command -v chromium >/dev/null 2>&1; then
  echo "== installing chromium (Debian) for the access-review rendering test"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi

# The infrastructure tools live in their own virtualenv: checkov pins an old botocore that would break moto's.
# cfn-lint validates the SAM template (after the SAM transform), checkov its security, cargo-lambda builds the
# Lambda bootstrap binaries.
CFN_LINT_VERSION=1.51.0
CHECKOV_VERSION=3.3.30
CARGO_LAMBDA_VERSION=1.9.2
INFRA_VENV="${CARGO_TARGET_DIR:-$PWD/target}/infra-venv"
if ! "$INFRA_VENV/bin/python" -c "
import importlib.metadata as m, sys
want = {'cfn-lint': '$CFN_LINT_VERSION', 'checkov': '$CHECKOV_VERSION', 'cargo-lambda': '$CARGO_LAMBDA_VERSION'}
sys.exit(any(m.version(p) != v for p, v in want.items()))" 2>/dev/null; then
  echo "== installing cfn-lint, checkov and cargo-lambda into $INFRA_VENV"
  python3 -m venv "$INFRA_VENV"
  "$INFRA_VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
    "cfn-lint==$CFN_LINT_VERSION" "checkov==$CHECKOV_VERSION" "cargo-lambda==$CARGO_LAMBDA_VERSION"
fi

# One full pass, not an edit loop: incremental caches would add ~2.4 GB of target/ that this run never reuses.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
echo "== disk free under ${INFRA_VENV%/*}: $(df -Ph "${INFRA_VENV%/*}" | awk 'NR==2 {print $4}') (a fresh full run writes ~6.5 GB there)"

echo "== cfn-lint infra/template.yaml (informational checks included)"
"$INFRA_VENV/bin/cfn-lint" --include-checks I -- infra/template.yaml
echo "== checkov infra/template.yaml (suppressions carry their reasons in the template)"
"$INFRA_VENV/bin/checkov" --quiet --compact --skip-download --framework cloudformation -f infra/template.yaml

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy --all-targets -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo doc (warnings are errors)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked --quiet
echo "== cargo test (the end-to-end tests build the binaries they run)"
cargo test --workspace --locked
echo "== cargo lambda build --release (the bootstrap binaries SAM deploys; x86_64 here)"
PATH="$INFRA_VENV/bin:$PATH" cargo lambda build --release --locked \
  --package export-users --package bulk-create-users --package deactivate-stale-users
for f in export-users bulk-create-users deactivate-stale-users; do ls -l "${CARGO_TARGET_DIR:-target}/lambda/$f/bootstrap"; done
