"""The dashboard server takes library tables far bigger than a plate sheet."""

from __future__ import annotations

import pytest

from planner.cli import ui
from planner.errors import PlanningError


def _limit() -> str:
    cmd = ui.streamlit_command(8642)
    return cmd[cmd.index("--server.maxUploadSize") + 1]


def test_the_upload_limit_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PLANNER_MAX_LIBRARY_UPLOAD_MB", raising=False)
    monkeypatch.delenv("PLANNER_MAX_UPLOAD_MB", raising=False)
    assert _limit() == "2048"
    monkeypatch.setenv("PLANNER_MAX_LIBRARY_UPLOAD_MB", "4096")
    assert _limit() == "4096"
    # Never below the plate-upload limit (checked again after the upload by campaigns.limits).
    monkeypatch.setenv("PLANNER_MAX_LIBRARY_UPLOAD_MB", "10")
    monkeypatch.setenv("PLANNER_MAX_UPLOAD_MB", "60")
    assert _limit() == "60"
    monkeypatch.setenv("PLANNER_MAX_LIBRARY_UPLOAD_MB", "two GB")
    with pytest.raises(PlanningError, match="PLANNER_MAX_LIBRARY_UPLOAD_MB='two GB'") as bad:
        ui.streamlit_command(8642)
    assert "2048" in (bad.value.hint or "")
