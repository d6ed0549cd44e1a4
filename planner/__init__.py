"""Planner: BoTorch acquisition, weekly plate proposals, backtests, simulations and the CLI."""

import logging

# The library logs its fallbacks (logging.getLogger(__name__) in each module); the application
# decides where they go (the CLI: stderr with levels and time stamps). Without a handler of its
# own, Python would print warnings of an unconfigured process a second time, next to the
# warnings module's copy.
logging.getLogger(__name__).addHandler(logging.NullHandler())
