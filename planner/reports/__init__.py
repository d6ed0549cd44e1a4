"""What the dashboard and the CLI show about a campaign: progress (best so far, hypervolume,
the plate as a frame) and model insight (cross-validated skill, feature importance)."""
