"""The Russian edition (notebooks/ru/) is built from the English notebooks and translations/ru/*.po.

Fails when a prose cell has no Russian text, when a translation is stale (its English source
changed since it was translated), when a string a code cell should show in Russian is gone, when
the committed notebooks/ru/ differ from what ``tools/translate.py build`` makes, or when a
translated code cell is not the same code as the English one (only strings and comments differ).
"""
import ast
import json
import re
from pathlib import Path

import pytest

from tools import translate

ROOT = Path(__file__).resolve().parents[1]

SOURCES = translate.sources()
CYRILLIC = re.compile(r"[А-Яа-яЁё]")


def test_every_lecture_notebook_and_exercise_has_a_russian_edition():
    names = {p.as_posix() for p in SOURCES}
    assert "00_tour.ipynb" in names and "exercises/01_hubel_wiesel.ipynb" in names
    assert len([n for n in names if "/" not in n]) >= 8


@pytest.mark.parametrize("rel", SOURCES, ids=str)
def test_every_prose_cell_is_translated_and_up_to_date(rel):
    report = translate.check(rel)
    problems = ([f"untranslated cell {c}" for c in report.missing]
                + [f"stale translation of cell {c} (English changed)" for c, _ in report.stale]
                + [f"code string {e.msgid!r} of cell {c} is gone or untranslated" for c, e in report.lost]
                + [f"entry {e.msgctxt} names no cell" for e in report.orphans])
    assert not problems, (f"{rel}: " + "; ".join(problems)
                          + "\nsee `python tools/translate.py status`; fix with `update`, `todo`, `import`")


@pytest.mark.parametrize("rel", SOURCES, ids=str)
def test_translations_are_russian_and_keep_formulas_and_links(rel):
    po = translate.read_catalogue(rel)
    for entry in translate.entries(po):
        if entry.msgctxt.endswith(translate.CODE) or not entry.msgstr:
            continue
        assert CYRILLIC.search(entry.msgstr), f"{rel} {entry.msgctxt}: the translation has no Russian text"
        for pattern in (r"\$\$.+?\$\$|\$[^$]+\$", r"\]\(([^)]+)\)"):   # formulas, link targets
            # words inside a formula (\\text{or}) are translated, and Russian writes 0{,}5 for 0.5 (GLOSSARY.md);
            # the mathematics stays the same
            english, russian = ([re.sub(r"\\text\{[^{}]*\}", r"\\text{}", re.sub(r"(\d)\{,\}(\d)", r"\1.\2", f))
                                 for f in re.findall(pattern, text, re.S)] for text in (entry.msgid, entry.msgstr))
            assert sorted(english) == sorted(russian), (
                f"{rel} {entry.msgctxt}: formulas/links differ from the English:\n{english}\n{russian}")


def blank_strings(source: str) -> str:
    """The cell's AST with every string constant blanked: equal for the same code, whatever the strings."""
    python = "\n".join("pass" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())
    tree = ast.parse(python)
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            node.value = ""
    return ast.dump(tree)


@pytest.mark.parametrize("rel", SOURCES, ids=str)
def test_russian_code_cells_are_the_english_code(rel):
    english = [c for c in translate.read_notebook(rel).cells if c.cell_type == "code"]
    russian = [c for c in translate.russian_notebook(rel).cells if c.cell_type == "code"]
    assert russian[0].id == translate.LANG_CELL_ID and 'os.environ["COURSE_LIB_LANG"] = "ru"' in russian[0].source
    assert not re.search(r"^\s*(import|from)\s+course_lib", russian[0].source, re.M)   # set before any import
    for en, ru in zip(english, russian[1:], strict=True):
        assert en.id == ru.id
        assert blank_strings(en.source) == blank_strings(ru.source), (
            f"{rel} cell {en.id}: the Russian code differs from the English beyond strings and comments")


def test_the_committed_russian_notebooks_are_up_to_date(capsys):
    assert translate.build(check_only=True) == 0, capsys.readouterr().err


def test_committed_russian_notebooks_set_the_language_before_course_lib():
    for path in sorted(translate.OUTPUT.rglob("*.ipynb")):
        cells = [c for c in json.loads(path.read_text(encoding="utf-8"))["cells"] if c["cell_type"] == "code"]
        assert 'os.environ["COURSE_LIB_LANG"] = "ru"' in "".join(cells[0]["source"]), path


def test_a_changed_english_cell_makes_its_translation_stale():
    rel = Path("00_tour.ipynb")
    nb, po = translate.read_notebook(rel), translate.read_catalogue(rel)
    assert translate.check(rel, nb=nb, po=po).ok
    prose = next(c for c in nb.cells if c.cell_type == "markdown")
    prose.source += " One more English sentence."
    assert [c for c, _ in translate.check(rel, nb=nb, po=po).stale] == [prose.id]
    nb.cells.insert(0, translate.nbformat.v4.new_markdown_cell("A new cell"))
    assert translate.check(rel, nb=nb, po=po).missing == [nb.cells[0].id]


def test_readmes_link_both_editions():
    readme, readme_ru = (ROOT / "README.md").read_text(encoding="utf-8"), (ROOT / "README.ru.md").read_text(encoding="utf-8")
    ru_binder = "https://mybinder.org/v2/gh/nn-art/nn-art/main?urlpath=lab/tree/notebooks/ru/00_tour.ipynb"
    assert ru_binder in readme and ru_binder in readme_ru
    assert "README.ru.md" in readme and "README.md" in readme_ru
    assert "./run.sh lecture" in readme_ru and "./run.sh test" in readme_ru
    shown = [p.name for p in sorted(translate.OUTPUT.glob("0*.ipynb"))]
    assert shown and all(f"`{name}`" in readme_ru for name in shown), "README.ru.md must describe every notebook"
