"""Proposal progress: the stages and wells a page or the CLI shows while a plate is planned."""

from __future__ import annotations

import logging

import pytest

from planner import progress
from planner.propose import propose_plate
from tests.planner.proposal_data import electrolyte_snapshot


def test_step_label_and_fraction() -> None:
    step = progress.Step("wells", 12, 92)
    assert step.label == "choosing wells: 12 of 92"
    assert step.fraction == pytest.approx(12 / 92)
    assert progress.Step("fit", 0, None).fraction is None
    assert progress.Step("fit", 0, None).label == "fitting the model"
    assert progress.Step("wells", 200, 92).fraction == 1.0


def test_listening_is_scoped_and_nested() -> None:
    outer: list[str] = []
    inner: list[str] = []
    with progress.listening(lambda s: outer.append(s.stage)):
        progress.report("fit")
        with progress.listening(lambda s: inner.append(s.stage)):
            progress.report("wells", 1, 2)
        progress.report("save")
    progress.report("data")  # after the block: nobody hears it
    assert outer == ["fit", "save"]
    assert inner == ["wells"]


def test_a_proposal_reports_fit_then_every_well() -> None:
    snap = electrolyte_snapshot(16, seed=1)
    steps: list[progress.Step] = []
    with progress.listening(steps.append):
        proposal = propose_plate(snap, surrogate="gp", seed=3, q=6, fast=True)
    stages = [s.stage for s in steps]
    assert "fit" in stages
    wells = [s for s in steps if s.stage == "wells"]
    assert wells, stages
    # Every pool well is reported once, counting up to the plate size.
    assert [s.done for s in wells] == sorted(s.done for s in wells)
    assert wells[-1].done == wells[-1].total == len(proposal.recipes) == 6
    assert stages.index("fit") < stages.index("wells")


def test_a_broken_listener_does_not_cost_the_plate(caplog: pytest.LogCaptureFixture) -> None:
    calls: list[str] = []

    def broken(step: progress.Step) -> None:
        calls.append(step.stage)
        raise RuntimeError("the page went away")

    snap = electrolyte_snapshot(16, seed=1)
    with caplog.at_level(logging.WARNING, logger="planner.progress"), \
            progress.listening(broken):
        proposal = propose_plate(snap, surrogate="gp", seed=3, q=4, fast=True)
    assert len(proposal.recipes) == 4
    assert len(calls) == 1  # dropped after its first failure
    assert "progress listener failed" in caplog.text
