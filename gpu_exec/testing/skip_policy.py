"""The test suite's skip policy, a pytest plugin: every skip has an allowed reason, every xfail
names the bug behind it, and the run says how many tests skipped and why.

A green run that quietly skipped tests is worse than a red one: the skipped tests prove nothing
and nobody is told. So the end of every run prints the skipped tests counted by reason, and the
run fails when a skip's reason matches none of ``ALLOWED_SKIPS`` or an xfail's reason cites no
issue. Loaded by ``-p gpu_exec.testing.skip_policy`` (pyproject's pytest ``addopts``).
"""

from __future__ import annotations

import re
from collections import Counter
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from _pytest.reports import TestReport
    from _pytest.terminal import TerminalReporter

__all__ = ["ALLOWED_SKIPS", "XFAIL_CITATION", "skip_reason", "unexplained"]

# (pattern of the reason, why such a skip is acceptable). Keep it short: a new entry needs a reason
# that no setup of this project can remove.
ALLOWED_SKIPS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^no GPU on this machine$"),
     "the real-GPU cases of the kernel suite need a CUDA device; ci/gpu/run runs them on one"),
    (re.compile(r"^kubectl is not installed$"),
     "the manifests' server-side validation needs a kubectl binary, which PyPI does not ship"),
)
# An xfail's reason names the issue or upstream bug that explains it: "#123", "issue 14",
# "apache/datafusion#8241" or a URL.
XFAIL_CITATION = re.compile(r"#\d+|\bissue \d+|https?://")


def skip_reason(report: TestReport) -> str:
    """The reason a skipped test gave (pytest stores it as ``(path, line, "Skipped: why")``)."""
    longrepr = report.longrepr
    text = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    return text.removeprefix("Skipped: ")


def unexplained(reasons: Counter[str]) -> list[str]:
    """The skip reasons that match no allowed pattern."""
    return [r for r in reasons if not any(p.search(r) for p, _ in ALLOWED_SKIPS)]


class SkipPolicy:
    """Collects skip and xfail reasons while the tests run; judges them at the end."""

    def __init__(self) -> None:
        self.skips: Counter[str] = Counter()
        self.bad_xfails: list[str] = []

    @pytest.hookimpl
    def pytest_runtest_logreport(self, report: TestReport) -> None:
        if hasattr(report, "wasxfail"):
            if report.skipped and not XFAIL_CITATION.search(report.wasxfail):
                self.bad_xfails.append(f"{report.nodeid}: {report.wasxfail or '(no reason)'}")
        elif report.skipped:
            self.skips[skip_reason(report)] += 1

    def problems(self) -> list[str]:
        return ([f"skip reason not in the allowed list (gpu_exec/testing/skip_policy.py): {r!r}"
                 for r in unexplained(self.skips)]
                + [f"xfail without the issue or upstream bug behind it: {x}" for x in self.bad_xfails])

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if self.problems() and exitstatus == 0:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    @pytest.hookimpl
    def pytest_terminal_summary(self, terminalreporter: TerminalReporter) -> None:
        if self.skips:
            terminalreporter.section("skipped tests by reason")
            for reason, count in self.skips.most_common():
                terminalreporter.write_line(f"{count:6d}  {reason}")
        problems = self.problems()
        if problems:
            terminalreporter.section("skip policy violated", red=True)
            for line in problems:
                terminalreporter.write_line(line, red=True)


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(SkipPolicy(), "gpu-exec-skip-policy")
