"""The fault suite's tally: scenarios run and invariant checks held, printed at the end."""

from __future__ import annotations

import pytest

from tests.faults import invariants


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call" and "tests/faults/" in report.nodeid:
        invariants.HELD["scenarios"] += 1
        if report.passed:
            invariants.HELD["passed"] = invariants.HELD.get("passed", 0) + 1


def pytest_terminal_summary(terminalreporter) -> None:  # type: ignore[no-untyped-def]
    held = invariants.HELD
    if held["scenarios"]:
        terminalreporter.write_line(
            f"fault scenarios: {held.get('passed', 0)} of {held['scenarios']} passed; "
            f"invariant checks (A-D) held: {held['checks']}"
        )
