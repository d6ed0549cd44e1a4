"""Streamlit dashboard: thin pages over the planner and campaigns packages."""
