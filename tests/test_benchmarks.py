import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.harness import Bench, Ratio, Skipped, _matches, all_rows, bench_line, measure

ROOT = Path(__file__).resolve().parents[1]


def test_measure_reports_median_and_peak_rss():
    calls = []
    result = measure(Bench("count", "-", lambda: lambda: calls.append(1), repeats=3))
    assert len(calls) == 4  # one warm-up and three timed
    assert result["median_s"] >= 0 and result["peak_rss_mb"] > 10


def test_every_row_is_well_formed_and_ratios_refer_to_rows():
    rows = all_rows()
    names = [r.name for r in rows if isinstance(r, Bench)]
    assert len(names) == len(set(names)), "duplicate benchmark names"
    assert {"model load (efficientnet_lite0, bundled weights)", "forward pass (efficientnet_lite0)"} <= set(names)
    position = {r.name: i for i, r in enumerate(rows) if isinstance(r, Bench)}
    for i, ratio in enumerate(rows):
        if isinstance(ratio, Ratio):  # both rows exist and run before the ratio is printed
            assert position[ratio.numerator] < i and position[ratio.denominator] < i, ratio.name


def test_runner_prints_a_table():
    out = subprocess.run([sys.executable, "-m", "benchmarks", "forward pass (efficientnet"], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert "median s" in lines[0] and "peak RSS MB" in lines[0]
    row = next(line for line in lines if line.startswith("forward pass (efficientnet_lite0)"))
    assert "224x224" in row and float(row.split()[-2]) > 0
    assert lines[-1].startswith("torch ") and " build" in lines[-1] and "./run.sh doctor" in lines[-1]


def test_a_row_that_times_itself_and_a_row_that_cannot_run_here():
    """``measured_s`` replaces the call's wall time; ``Skipped`` in make() becomes a 'skipped' line with its reason."""
    class SelfTimed:
        measured_s, quality = 0.25, "4.0 frames/s"

    result = measure(Bench("self-timed", "-", lambda: SelfTimed, repeats=1, warmup=False))
    assert result["median_s"] == 0.25 and result["quality"] == "4.0 frames/s"

    def no_browser():
        raise Skipped("/usr/bin/chromium is absent")

    row = Bench("needs a browser", "320x240", no_browser)
    result = measure(row)
    assert result == {"skipped": "/usr/bin/chromium is absent"}
    assert bench_line(row, result).split() == ["needs", "a", "browser", "320x240", "skipped", "/usr/bin/chromium",
                                               "is", "absent"]


def test_live_camera_row_is_slow_selected_by_name_and_skips_without_a_browser(monkeypatch):
    from benchmarks import bench_fast_style
    from tests import browser_support

    selected = [r for r in all_rows() if _matches("live camera in headless", r)]
    assert [r.name for r in selected] == [bench_fast_style.LIVE_IN_BROWSER] and selected[0].slow
    assert selected[0].floor_s == 0.1        # the goal, >= 10 frames per second
    monkeypatch.setattr(browser_support, "CHROMIUM", ROOT / "no-such-chromium")
    with pytest.raises(Skipped, match="no-such-chromium is absent: install Debian's chromium"):
        selected[0].make()
    monkeypatch.setattr(browser_support, "CHROMIUM", Path(sys.executable))   # a file that exists: Chromium found
    monkeypatch.setitem(sys.modules, "playwright", None)                      # as if Playwright were not installed
    with pytest.raises(Skipped, match="playwright is not installed"):
        selected[0].make()
