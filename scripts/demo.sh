#!/usr/bin/env bash
# Main job on the embedded default data: install everything, run the demo closed loop
# (virtual hard-carbon lab, several simulated weeks), print next week's plate and open the dashboard.
#   usage: bash scripts/demo.sh            (PLANNER_NO_DASHBOARD=1 to skip the dashboard)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
exec .venv/bin/planner demo "$@"
