"""Surrogate models: GP, neural-network ensemble and random forest with honest uncertainty."""
