#!/usr/bin/env bash
# Install everything (test extras, Debian's chromium for the browser test, PostgreSQL for the
# PostgreSQL tests) and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh test
bash scripts/system-deps.sh || echo "==> system packages unavailable: browser/PostgreSQL tests will be skipped"
export PYTHONHASHSEED=0
exec .venv/bin/python -m pytest -n 2 --dist loadfile "$@"
