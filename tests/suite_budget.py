"""pytest plugin: the whole suite's time budget, enforced where ``COURSE_SUITE_BUDGET_S`` is set (CI).

``.ci/run`` sets ``COURSE_SUITE_BUDGET_S=600``: when the tests (the pytest session, from its start)
take longer the run fails (exit status 1); either way it prints the 15 slowest tests, so that a suite
creeping past 10 minutes on the CI machine is seen the day it happens, not the day CI's own limit cuts
it off. ``COURSE_SUITE_START`` (seconds since the epoch, taken by ``.ci/run`` before ``./run.sh test``
sets up the venv) adds a line with the install's own time. Loaded by the root ``conftest.py``;
``tests/test_readme_commands.py`` tests it.
"""
import os
import time

_START = time.time()


def _budget() -> float | None:
    value = os.environ.get("COURSE_SUITE_BUDGET_S", "").strip()
    return float(value) if value else None


def _install_s() -> float | None:
    try:
        return _START - float(os.environ["COURSE_SUITE_START"])
    except (KeyError, ValueError):
        return None


def slowest(terminalreporter, n: int = 15) -> list[tuple[float, str]]:
    """(seconds, test id) of the n slowest tests, setup and teardown included."""
    totals = {}
    for reports in terminalreporter.stats.values():
        for report in reports:
            if hasattr(report, "duration") and hasattr(report, "nodeid"):
                totals[report.nodeid] = totals.get(report.nodeid, 0.0) + report.duration
    return sorted(((s, node) for node, s in totals.items()), reverse=True)[:n]


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    budget = _budget()
    if budget is None or hasattr(config, "workerinput"):     # xdist workers report to the controller
        return
    elapsed, install = time.time() - _START, _install_s()
    line = f"tests {elapsed:.0f} s of a {budget:.0f} s budget" + (f" (set-up and install before them: {install:.0f} s)"
                                                                 if install is not None else "")
    if elapsed <= budget:
        terminalreporter.write_sep("=", line)
    else:
        terminalreporter.write_sep("=", f"OVER BUDGET: {line}", red=True)
    terminalreporter.write_line("the 15 slowest tests:")
    for seconds, node in slowest(terminalreporter):
        terminalreporter.write_line(f"{seconds:8.1f} s  {node}")


def pytest_sessionfinish(session, exitstatus):
    budget = _budget()
    if budget is not None and not hasattr(session.config, "workerinput") and time.time() - _START > budget:
        session.exitstatus = 1
