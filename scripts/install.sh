#!/usr/bin/env bash
# Install the planner into ./.venv: the CPU build of torch first (never a CUDA build), then the
# package with the given extras. Safe to run again; it only installs what is missing.
#   usage: bash scripts/install.sh [extras]     e.g. bash scripts/install.sh test
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv with $($PY --version)"
  $PY -m venv .venv || { echo "Cannot create a virtualenv. On Debian: apt-get install python3-venv" >&2; exit 1; }
fi
pip=(.venv/bin/python -m pip --disable-pip-version-check)
if ! .venv/bin/python -c "import torch, sys; sys.exit(0 if torch.__version__.startswith('2.13.0') else 1)" 2>/dev/null; then
  echo "==> installing torch==2.13.0 (CPU build)"
  "${pip[@]}" install torch==2.13.0
fi
target="."
[ -n "$extras" ] && target=".[$extras]"
echo "==> installing battery-bo-planner ($target)"
"${pip[@]}" install -q -e "$target"
# Guard: no dependency may have replaced torch with a CUDA build.
.venv/bin/python - <<'PY'
import sys, torch
if not torch.__version__.startswith("2.13.0") or torch.version.cuda:
    sys.exit(f"torch {torch.__version__} (cuda={torch.version.cuda}) was installed; expected the CPU build 2.13.0")
PY
