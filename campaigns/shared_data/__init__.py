"""Shared, public data sets shipped with the planner (cleaned copies plus their provenance)."""
