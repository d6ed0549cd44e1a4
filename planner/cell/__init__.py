"""Cell-level projections with PyBaMM: what a material's numbers mean for a whole cell.

:mod:`~planner.cell.projection` runs the PyBaMM models (imported only when a projection is asked
for); :mod:`~planner.cell.report` turns a campaign's measured or proposed materials into a table
of projected energy and rate capability.
"""
