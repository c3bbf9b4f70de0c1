"""README.ru.md keeps step with README.md: the same sections in the same order, the same tables, the same commands.

Compared by structure, not by text: heading levels in order, each table's shape (columns, rows) and its
first column where that holds code (notebook names), and every `./run.sh <command>` the English names.
A table's first column is compared by its code spans alone (`.venv` in "`.venv` on disk").
"""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def outline(text: str) -> list:
    """[("h", level, title) | ("table", columns, rows, first-column codes)] outside fenced code blocks."""
    items, table, fenced = [], [], False
    for line in text.splitlines() + [""]:
        if line.startswith("```"):
            fenced = not fenced
        if fenced:
            continue
        if line.lstrip().startswith("|"):
            table.append([c.strip() for c in line.strip().strip("|").split("|")])
            continue
        if table:
            rows = [r for r in table[2:]]
            codes = tuple(" ".join(re.findall(r"`[^`]+`", r[0])) for r in rows if r[0].startswith("`"))
            items.append(("table", len(table[0]), len(rows), codes))
            table = []
        heading = re.match(r"^(#{1,4}) (.+)", line)
        if heading:
            items.append(("h", len(heading[1]), heading[2]))
    return items


def comparable(items: list, skip_titles=()) -> list:
    """Drop the sections in ``skip_titles`` (heading and everything up to the next heading of its level or higher)."""
    kept, skipping = [], None
    for item in items:
        if item[0] == "h":
            if skipping is not None and item[1] <= skipping:
                skipping = None
            if item[2] in skip_titles:
                skipping = item[1]
                continue
        if skipping is None:
            kept.append(item[:2] if item[0] == "h" else item)
    return kept


def test_the_russian_readme_has_the_english_sections_and_tables():
    english = outline((ROOT / "README.md").read_text(encoding="utf-8"))
    russian = outline((ROOT / "README.ru.md").read_text(encoding="utf-8"))
    assert comparable(english) == comparable(russian), (
        "README.ru.md is out of step with README.md (headings in order, tables: columns, rows, code names):\n"
        f"English: {comparable(english)}\nRussian: {comparable(russian)}")


def test_the_russian_readme_names_every_run_sh_command():
    commands = lambda text: set(re.findall(r"\./run\.sh (\w+)", text))
    english = commands((ROOT / "README.md").read_text(encoding="utf-8"))
    russian = commands((ROOT / "README.ru.md").read_text(encoding="utf-8"))
    assert english <= russian, f"README.ru.md lacks: {sorted(english - russian)}"


def test_the_comparison_sees_a_missing_section_and_a_changed_table():
    english = "# T\n## A\ntext\n## B\n| a | b |\n|---|---|\n| `x` | 1 |\n"
    assert comparable(outline(english)) == [("h", 1), ("h", 2), ("h", 2), ("table", 2, 1, ("`x`",))]
    assert comparable(outline(english)) != comparable(outline("# T\n## A\n## B\n| a | b |\n|---|---|\n"))
    assert comparable(outline(english)) != comparable(outline("# T\n## B\n| a | b |\n|---|---|\n| `x` | 1 |\n"))
    assert comparable(outline(english), {"A"}) == comparable(outline("# T\n## B\n| a | b |\n|---|---|\n| `x` | 1 |\n"))
