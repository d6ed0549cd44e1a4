"""Other optimizers run on the same pool-based loop as our planner, for fair backtests.

Each peer's package (Ax, BayBE) is imported only when its strategy is built, and each says how
to install it when it is missing.
"""
