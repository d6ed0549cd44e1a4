"""`python -m planner.cli` runs the `planner` command."""

from planner.cli import main

main()
