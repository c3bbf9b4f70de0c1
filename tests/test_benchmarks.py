import subprocess
import sys
from pathlib import Path

from benchmarks.harness import Bench, Ratio, all_rows, measure

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
