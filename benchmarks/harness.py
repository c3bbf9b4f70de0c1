"""Benchmark harness: every row runs in its own process, so its peak RSS is its own.

A ``bench_*.py`` module in this folder defines ``benchmarks()`` returning a list of
``Bench`` rows and ``Ratio`` rows. A ``Bench`` has a ``make()`` that does the setup and
returns the zero-argument callable to time; the table shows the median of ``repeats``
calls and the process's peak resident memory. A ``Ratio`` divides the medians of two
rows of the same run, so comparisons are always measured side by side.

A timed call may return an object with ``measured_s`` (it timed itself: e.g. seconds per frame seen in a browser,
where the call's own wall time is a fixed stream), ``quality`` (a note printed at the end of the row) and
``peak_rss_mb`` (the peak of the process that did the work). A ``make()`` that cannot run here (no browser)
raises ``Skipped("why")``: the row prints "skipped" and the reason.
"""
import importlib
import json
import os
import pkgutil
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Callable


class Skipped(Exception):
    """Raised by a row's ``make()`` when it cannot run on this machine; the message says why."""


@dataclass
class Bench:
    name: str
    size: str                       # input size, e.g. "224x224"
    make: Callable[[], Callable]    # setup; returns the callable to time
    repeats: int = 3                # the median of this many timed calls (3 or more, unless a row says why)
    warmup: bool = True             # one untimed call first (model load rows set False)
    floor_s: float | None = None    # the target, shown beside the median
    slow: bool = False              # minutes long: runs only when a filter names it
    pixels: int | None = None       # pixels of the picture made: a Ratio with per_pixel compares time per pixel


@dataclass
class Ratio:
    name: str
    numerator: str
    denominator: str
    floor: float | None = None
    ceiling: float | None = None    # the target when lower is better
    per_pixel: bool = False         # seconds per pixel (``Bench.pixels``) instead of seconds


def all_rows():
    import benchmarks

    rows = []
    for info in sorted(pkgutil.iter_modules(benchmarks.__path__), key=lambda i: i.name):
        if info.name.startswith("bench_"):
            rows += importlib.import_module(f"benchmarks.{info.name}").benchmarks()
    return rows


def measure(bench: Bench) -> dict:
    """Run one row in this process (called in a child process by ``main``)."""
    try:
        fn = bench.make()
    except Skipped as why:
        return {"skipped": str(why)}
    if bench.warmup:
        fn()
    times, peaks, quality = [], [peak_rss_mb()], None
    for _ in range(bench.repeats):
        start = time.perf_counter()
        result = fn()
        elapsed = time.perf_counter() - start
        times.append(getattr(result, "measured_s", None) or elapsed)   # a call that timed itself says so
        # a row that runs its work in another process (a notebook's kernel) reports that one's peak
        if getattr(result, "peak_rss_mb", None):
            peaks[0] = 0.0
            peaks.append(result.peak_rss_mb)
        quality = getattr(result, "quality", None) or quality
    return {"median_s": statistics.median(times), "peak_rss_mb": max(peaks), "quality": quality}


def peak_rss_mb() -> float:
    """This process's own peak resident memory (ru_maxrss would include the parent's peak after fork)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _matches(pattern: str, row) -> bool:
    """A row is selected when its name starts with the pattern or contains it as a whole word group."""
    names = [row.name] + ([row.numerator, row.denominator] if isinstance(row, Ratio) else [])
    return not pattern or any(n.startswith(pattern) or f" {pattern}" in f" {n}" for n in names)


def run_child(name: str) -> dict:
    env = dict(os.environ)
    out = subprocess.run([sys.executable, "-m", "benchmarks", "--child", name], capture_output=True, text=True, env=env)
    if out.returncode != 0:
        return {"error": (out.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv):
    if argv[:1] == ["--child"]:
        bench = next(r for r in all_rows() if isinstance(r, Bench) and r.name == argv[1])
        print(json.dumps(measure(bench)))
        return 0
    pattern = argv[0] if argv else ""
    rows = [r for r in all_rows() if _matches(pattern, r)]
    slow = [r for r in rows if isinstance(r, Bench) and r.slow and not pattern]
    rows = [r for r in rows if r not in slow]
    results = {}
    print(f"{'benchmark':<52} {'input':>12} {'median s':>10} {'peak RSS MB':>12} {'ratio':>9} {'floor':>10}")
    print("-" * 110)
    for row in rows:
        if isinstance(row, Bench):
            results[row.name] = run_child(row.name)
            print(bench_line(row, results[row.name]), flush=True)
        else:
            a, b = results.get(row.numerator, {}), results.get(row.denominator, {})
            if "median_s" in a and "median_s" in b:
                ratio = a["median_s"] / b["median_s"]
                if row.per_pixel:
                    ratio *= _pixels(row.denominator) / _pixels(row.numerator)
                floor = f">= {row.floor:g}x" if row.floor else f"<= {row.ceiling:g}x" if row.ceiling else ""
                shown = f"{ratio:>8.1f}x" if ratio >= 1 else f"{ratio:>8.3f}x"
                print(f"{row.name:<52} {'':>12} {'':>10} {'':>12} {shown} {floor:>10}", flush=True)
    if slow:
        print(f"({len(slow)} slow rows skipped; name them to run them, e.g. python -m benchmarks notebook)")
    print(environment_line())
    return 0


def bench_line(row: Bench, r: dict) -> str:
    """One table line: a measured row, a row that failed, or a row that skipped (with its reason)."""
    if "error" in r:
        return f"{row.name:<52} {row.size:>12} {'ERROR':>10}  {r['error'][:60]}"
    if "skipped" in r:
        return f"{row.name:<52} {row.size:>12} {'skipped':>10}  {r['skipped']}"
    floor = f"<= {row.floor_s:g} s" if row.floor_s else ""
    quality = f"  {r['quality']}" if r.get("quality") else ""
    return f"{row.name:<52} {row.size:>12} {r['median_s']:>10.3f} {r['peak_rss_mb']:>12.0f} {'':>9} {floor:>10}{quality}"


def _pixels(name: str) -> int:
    return next(r.pixels for r in all_rows() if isinstance(r, Bench) and r.name == name)


def environment_line() -> str:
    """Under the table, the torch build the numbers were measured with (a CUDA build holds more memory)."""
    from course_lib.doctor import torch_build

    return f"torch {torch_build()}; venv size, memory after import torch, cached nets: ./run.sh doctor"
