"""Campaigns: specs, plates, storage, ingest and snapshots."""

import logging

# Library logging: the application configures handlers (see planner/__init__.py).
logging.getLogger(__name__).addHandler(logging.NullHandler())
