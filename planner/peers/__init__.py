"""Other optimizers run on the same pool-based loop as our planner, for fair backtests.

Each peer is imported only when its strategy is asked for, and each says how to install its
package when it is missing.
"""
