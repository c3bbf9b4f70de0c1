"""How close each numeric assertion comes to its threshold, in the notebooks and the tests.

    python tools/assert_margins.py notebooks                 # every lecture + exercise notebook, quick mode
    python tools/assert_margins.py tests -- tests/test_style.py   # the tests (pytest arguments after --)
    python tools/assert_margins.py notebooks --threads 1 2   # the default: once per torch thread count

Every ``assert a < b`` (also ``<=``, ``>``, ``>=``, inside ``and`` too) is rewritten so that it also
records its two sides; the table lists each assertion's smallest relative margin over all runs,
``(b - a) / max(|a|, |b|)`` for ``a < b``, closest first. A margin under 10 % means that another
CPU's rounding, thread count or seed may tip it over: such an assertion gets a better-posed
property or an honest threshold, with its measured value beside it (issue 25). Runs go through
``course_lib.notebook_runner`` (notebooks) and pytest with plain asserts (tests).
"""
import argparse
import ast
import importlib.abc
import importlib.machinery
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOG_ENV = "COURSE_MARGINS_LOG"
OPS = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">="}


class RecordComparisons(ast.NodeTransformer):
    """``assert a < b`` -> ``assert __record_margin__(a, "<", b, "file:line")``."""

    def __init__(self, where: str):
        self.where = where

    def visit_Assert(self, node):
        node.test = self._wrap(node.test)
        return node

    def _wrap(self, test):
        if isinstance(test, ast.BoolOp) and isinstance(test.op, ast.And):
            test.values = [self._wrap(v) for v in test.values]
            return test
        if isinstance(test, ast.Compare) and len(test.ops) == 1 and type(test.ops[0]) in OPS:
            call = ast.Call(ast.Name("__record_margin__", ast.Load()),
                            [test.left, ast.Constant(OPS[type(test.ops[0])]), test.comparators[0],
                             ast.Constant(f"{self.where}:{test.lineno}  {ast.unparse(test)[:70]}")], [])
            return ast.copy_location(call, test)
        return test


def _number(value):
    try:
        if hasattr(value, "numel"):
            if value.numel() != 1:
                return None
            value = value.detach()
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number


def record_margin(a, op, b, where):
    """Compare as the assertion would, and log the relative margin of numeric sides."""
    result = {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]
    x, y = _number(a), _number(b)
    if x is not None and y is not None:
        scale = max(abs(x), abs(y)) or 1.0
        margin = (y - x) / scale if op in ("<", "<=") else (x - y) / scale
        with open(os.environ[LOG_ENV], "a") as log:
            log.write(json.dumps({"where": where, "a": x, "op": op, "b": y, "margin": margin}) + "\n")
    return result


def install():
    """Make ``__record_margin__`` a builtin, and rewrite IPython cells when in IPython."""
    import builtins

    builtins.__record_margin__ = record_margin
    from IPython import get_ipython

    shell = get_ipython()
    if shell is None:
        return

    class CellRewriter(ast.NodeTransformer):
        def visit_Module(self, node):
            where = os.environ.get("COURSE_MARGINS_NOTEBOOK", "cell")      # + line and the assertion's text
            return RecordComparisons(where).visit(node)

    shell.ast_transformers.append(CellRewriter())


class _TestFinder(importlib.abc.MetaPathFinder):
    """Imports tests/test_*.py through RecordComparisons (pytest runs with --assert=plain)."""

    def find_spec(self, name, path, target=None):
        leaf = name.rpartition(".")[2]
        candidate = ROOT / "tests" / f"{leaf}.py"
        if not leaf.startswith("test_") or not candidate.exists():
            return None
        return importlib.machinery.ModuleSpec(name, _TestLoader(candidate), origin=str(candidate))


class _TestLoader(importlib.abc.Loader):
    def __init__(self, path: Path):
        self.path = path

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        module.__file__ = str(self.path)
        tree = RecordComparisons(self.path.name).visit(ast.parse(self.path.read_text(), str(self.path)))
        exec(compile(ast.fix_missing_locations(tree), str(self.path), "exec"), module.__dict__)


def pytest_configure(config):       # this file as a pytest plugin: -p tools.assert_margins
    install()
    sys.meta_path.insert(0, _TestFinder())


def run_notebooks(log: Path, threads: int, only: str) -> list[str]:
    from course_lib.notebook_runner import run_notebook
    import nbformat

    failures = []
    paths = sorted((ROOT / "notebooks").glob("0*.ipynb")) + sorted((ROOT / "notebooks" / "exercises" / "solutions").glob("*.ipynb"))
    for path in (p for p in paths if only in p.name):
        nb = nbformat.read(path, as_version=4)
        nb.cells.insert(0, nbformat.v4.new_code_cell(f"import sys; sys.path.insert(0, {str(ROOT)!r})\n"
                                                     "from tools.assert_margins import install; install()"))
        env = {LOG_ENV: str(log), "COURSE_MARGINS_NOTEBOOK": path.name, "OMP_NUM_THREADS": str(threads),
               "MPLBACKEND": "Agg", "COURSE_LIB_OFFLINE": "1", "COURSE_LIB_TESTING": "1"}
        run = run_notebook(nb, cwd=path.parent, quick=True, env=env, check=False)
        print(f"  {path.name}: {run.error or 'ok'}", flush=True)
        failures += [run.error] if run.error else []
    return failures


def run_tests(log: Path, threads: int, extra: list[str]) -> int:
    env = dict(os.environ, **{LOG_ENV: str(log), "OMP_NUM_THREADS": str(threads), "COURSE_LIB_QUICK": "1",
                              "MPLBACKEND": "Agg", "COURSE_LIB_OFFLINE": "1", "COURSE_LIB_TESTING": "1",
                              "PYTHONPATH": str(ROOT)})
    command = [sys.executable, "-m", "pytest", "--assert=plain", "-p", "tools.assert_margins",
               "-p", "no:cacheprovider", "-q", *(extra or ["tests"])]
    return subprocess.run(command, cwd=ROOT, env=env).returncode


def table(log: Path, limit: float) -> list[str]:
    closest = {}
    for line in log.read_text().splitlines():
        r = json.loads(line)
        if r["where"] not in closest or r["margin"] < closest[r["where"]]["margin"]:
            closest[r["where"]] = r
    # an inclusive bound met exactly (0 <= x.min() of a clamped image) is an identity, not a near miss
    rows = sorted((r for r in closest.values() if not (r["margin"] == 0 and r["op"] in ("<=", ">="))),
                  key=lambda r: r["margin"])
    return [f"{r['margin']:>8.1%}  {r['where']:<100} {r['a']:.4g} {r['op']} {r['b']:.4g}"
            for r in rows if r["margin"] < limit]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["notebooks", "tests"])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--only", default="", help="notebooks whose name contains this")
    parser.add_argument("--show-below", type=float, default=0.10, help="list margins under this (default 0.10)")
    argv = sys.argv[1:] if argv is None else argv
    pytest_args = argv[argv.index("--") + 1:] if "--" in argv else []
    args = parser.parse_args(argv[:argv.index("--")] if "--" in argv else argv)
    log = Path(tempfile.mkdtemp(prefix="margins-")) / "margins.jsonl"
    log.touch()
    failed = 0
    for threads in args.threads:
        print(f"{args.what} with {threads} torch thread(s):", flush=True)
        if args.what == "notebooks":
            failed += len(run_notebooks(log, threads, args.only))
        else:
            failed += run_tests(log, threads, pytest_args) != 0
    rows = table(log, args.show_below)
    print(f"\nassertions closer than {args.show_below:.0%} to their threshold (smallest margin over all runs):")
    print("\n".join(rows) if rows else "  none")
    print(f"(all records: {log})")
    return 1 if failed or rows else 0


if __name__ == "__main__":
    sys.exit(main())
