"""Planner: BoTorch acquisition, weekly plate proposals, backtests, simulations and the CLI."""
