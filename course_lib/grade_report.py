"""What the grader writes: the class CSV, one feedback file per student, shard files and their merge.

Everything here runs in the grader's own process after every sandbox has exited. Files are
written to a temporary name in the target folder and renamed into place, so a reader sees the
old file or the new one, never half of one. A CSV cell that a spreadsheet would read as a formula
(it starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return) gets a leading ``'``
(the OWASP advice for CSV injection).
"""
import csv
import io
import json
import os
import re
import tempfile
from pathlib import Path

from .i18n import tr

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def cell(value):
    """``value`` as a CSV cell no spreadsheet runs as a formula."""
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def write_atomically(path: Path, text: str):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def csv_text(rows, columns) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns)
    writer.writerows([cell(row[c]) for c in columns] for row in rows)
    return buffer.getvalue()


def points(result) -> int:
    return sum(t["points"] for t in result["tasks"].values())


def feedback_text(student, results, exercises, isolation) -> str:
    """The per-student feedback file: points, the checkers' verdicts on the hidden inputs, problems."""
    total = sum(points(r) for r in results.values())
    lines = [tr("Feedback for {student}: {total} of {max} points", student=student, total=total,
                max=sum(len(t) for t in exercises.values())),
             tr("The checks used inputs you have not seen; a function that passes in your notebook but fails here "
                "depends on the particular inputs there."),
             tr("Isolation: {isolation}", isolation=isolation), ""]
    for name, tasks in exercises.items():
        result = results.get(name)
        if result is None:
            lines.append(tr("{notebook}: not submitted (0 of {max})", notebook=name, max=len(tasks)))
            continue
        lines.append(tr("{notebook}: {points} of {max} points", notebook=name, points=points(result), max=len(tasks)))
        if result["error"]:
            lines.append("  " + tr("not graded: {reason}", reason=result["error"]))
        for task in tasks:
            if task in result["tasks"]:
                lines += ["  " + line for line in result["tasks"][task]["verdict"].splitlines()]
        lines += ["  " + tr("note: {problem}", problem=p) for p in result["problems"]]
    return "\n".join(lines) + "\n"


def problems_text(results) -> str:
    """The CSV's ``problems`` cell: why notebooks could not be graded normally."""
    parts = []
    for name, result in results.items():
        stem = Path(name).stem
        if result["error"]:
            parts.append(f"{stem}: {result['error']}")
        parts += [f"{stem}: {p}" for p in result["problems"]]
        parts += [f"{stem}: {t['verdict']}" for t in result["tasks"].values() if t["problem"]]
    return "; ".join(one_line(p) for p in parts)


def one_line(text) -> str:
    """``text`` without line breaks or other control characters (one CSV cell, one line)."""
    return re.sub(r"[\x00-\x1f\x7f]+", " ", str(text))


# ---- shards: one machine grades students K of N; the merge checks that every student is there once ----

def shard_of(student: str, count: int) -> int:
    """1..count, from the folder name alone (a late submission does not move the others)."""
    import hashlib
    return int.from_bytes(hashlib.sha256(student.encode()).digest()[:8], "big") % count + 1


class MergeError(ValueError):
    """Shards that do not make one whole class."""


def manifest_path(out: Path) -> Path:
    return Path(out).with_name(Path(out).name + ".shard.json")


def merge(shard_csvs, out: Path, log=print) -> list:
    """Join the shards' CSVs into ``out``; refuse overlapping, missing or mismatched shards."""
    manifests, rows, columns = [], [], None
    for path in map(Path, shard_csvs):
        try:
            manifest = json.loads(manifest_path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise MergeError(tr("{path} has no shard manifest ({manifest}): grade it with --shard K/N",
                                path=path, manifest=manifest_path(path))) from None
        with open(path, newline="", encoding="utf-8") as f:
            table = list(csv.reader(f))
        columns = columns or table[0]
        manifests.append((path, manifest))
        rows += [dict(zip(table[0], r)) for r in table[1:]]
    keys = {(m["count"], m["seed"], m["students_sha256"]) for _, m in manifests}
    if len(keys) != 1:
        raise MergeError(tr("the shards come from different runs (another N, --seed or submissions folder)"))
    count = manifests[0][1]["count"]
    seen = [m["shard"] for _, m in manifests]
    twice = sorted({k for k in seen if seen.count(k) > 1})
    missing = sorted(set(range(1, count + 1)) - set(seen))
    if twice or missing:
        raise MergeError(tr("shards given twice: {twice}; shards missing: {missing} (of {count})",
                            twice=twice or "-", missing=missing or "-", count=count))
    students = [m["students"] for _, m in manifests]
    expected = manifests[0][1]["all_students"]
    if sorted(s for part in students for s in part) != sorted(expected):
        raise MergeError(tr("the shards' students do not add up to the class ({n} expected)", n=len(expected)))
    rows.sort(key=lambda r: r["student"].removeprefix("'"))
    write_atomically(out, csv_text(rows, columns))
    log(tr("merged {n} shards, {students} students into {out}", n=count, students=len(rows), out=out))
    return rows
