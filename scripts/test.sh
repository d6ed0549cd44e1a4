#!/usr/bin/env bash
# Install everything (test extras, Debian's chromium for the browser test, PostgreSQL for the
# PostgreSQL tests), then check the code and run the whole test suite:
#   1. ruff (lint, settings in pyproject.toml)
#   2. mypy on campaigns, surrogates and planner
#   3. the docstring examples of the library (doctests)
#   4. pytest, two workers; arguments go to this run, e.g. bash scripts/test.sh -x -q
# Every step runs even when an earlier one fails; the script fails when any of them failed.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh test
bash scripts/system-deps.sh || echo "==> system packages unavailable: browser/PostgreSQL tests will be skipped"
export PYTHONHASHSEED=0

failed=()
step() {  # step NAME COMMAND...: run it, remember a failure, keep going
  local name=$1
  shift
  echo "==> $name"
  "$@" || failed+=("$name")
}

step "ruff" .venv/bin/ruff check .
step "mypy" .venv/bin/mypy
# Migrations are scripts run by Alembic, not importable modules.
step "doctests" .venv/bin/python -m pytest -q -p no:cacheprovider --doctest-modules \
  --ignore=campaigns/migrations campaigns surrogates planner
step "pytest" .venv/bin/python -m pytest -n 2 --dist loadfile "$@"

if [ ${#failed[@]} -gt 0 ]; then
  echo "==> failed: ${failed[*]}" >&2
  exit 1
fi
# No line after pytest's own summary: CI reads the runner's closing line.
