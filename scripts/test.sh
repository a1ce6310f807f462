#!/usr/bin/env bash
# The project's one test command: the Rust test suite, then the checks that need
# outside tools (each script installs what it needs, idempotently).
set -euo pipefail
cd "$(dirname "$0")/.."

cargo test --workspace --locked
