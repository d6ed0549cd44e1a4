"""Where the planner keeps derived, re-computable files (fitted emulators, PyBaMM results).

``$PLANNER_CACHE_DIR`` overrides the default, the user cache directory from ``platformdirs``.
Everything in it can be deleted at any time; it is rebuilt on demand.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

APP_NAME = "battery-bo-planner"


def cache_dir(*parts: str) -> Path:
    """The (created) cache folder, optionally a sub-folder ``parts``."""
    from platformdirs import user_cache_dir

    root = Path(os.environ.get("PLANNER_CACHE_DIR") or user_cache_dir(APP_NAME))
    path = root.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def stable_hash(payload: Any) -> str:
    """16-hex-digit SHA-256 of ``payload`` serialised as canonical JSON (for cache keys)."""
    text = json.dumps(payload, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]
