"""SIMULATED labs for demos, tests and backtests: nothing here is a real measurement.

- :mod:`planner.simulation.hard_carbon`: virtual hard-carbon lab (recipe -> structure -> Na-ion
  half-cell results), with noise, plate drift and failures.
- :mod:`planner.simulation.electrolyte`: electrolyte emulator (conductivity learned from the
  cleaned CALiSol-23 data, plus a synthetic Coulombic-efficiency model).

Every frame they return carries ``instrument`` values ending in ``(simulated)``.
"""

from planner.simulation._validation import SimulationInputError

SIMULATED = True
"""Marks the whole package as simulation."""

__all__ = ["SIMULATED", "SimulationInputError"]
