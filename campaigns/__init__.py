"""Campaigns: specs, plates, storage, ingest and snapshots."""
