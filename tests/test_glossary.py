"""The Russian edition speaks one Russian: no English left on screen, the glossary's terms and names.

``translations/ru/GLOSSARY.md`` fixes each term and author name once; ``tools/translate.py lint``
reads it and reports, per Russian notebook, the English a student would still see in a code cell
(comments, titles, labels, printed lines, widget descriptions and option labels, assertion messages),
terms the glossary forbids, author names in Latin and English words inside formulas (``\\text{or}``).
ImageNet class names, sample and model names and the glossary's short allow-list may stay English.
"""
import json
from pathlib import Path

import pytest

from tools import translate

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("rel", translate.sources(), ids=str)
def test_a_russian_notebook_shows_no_english_and_follows_the_glossary(rel):
    report = translate.lint_notebook(rel)
    problems = [f"{kind} in cell {cell}: {item}" for kind, items in report.items() for cell, item in items
                if kind != "decimal"]
    assert not problems, (f"{rel}:\n  " + "\n  ".join(problems) + "\nsee `python tools/translate.py lint`; "
                          "translate with `translate.py set NOTEBOOK CELL --code 'FRAGMENT'`, terms: translations/ru/GLOSSARY.md")


@pytest.mark.parametrize("rel", translate.sources(), ids=str)
def test_russian_prose_writes_the_decimal_comma(rel):
    """0,5 in the text and 0{,}5 in formulas (GLOSSARY.md); code between backticks keeps its 0.5."""
    found = translate.lint_notebook(rel)["decimal"]
    assert not found, f"{rel}: write these with a decimal comma: {found}"


def test_the_glossary_has_its_tables():
    tables = translate.glossary()
    terms = {english: (russian, forbidden) for english, russian, forbidden in tables["terms"]}
    assert terms["chain rule"][0] == "цепное правило" and "правило цепочки" in terms["chain rule"][1]
    assert ("Ulyanov", "Ульянов") in tables["names"] and "deconvnet" in tables["allowed"]


def test_lint_finds_what_it_should():
    """Each kind of problem, planted in a cell, is reported; its Russian version is not."""
    english_code = 'w = widgets.Dropdown(options=[("plain", "plain")], description="layer")  # the slide\'s loss alone\n' \
                   'print(f"{n} dogs of 15")\nax.set_title("response vs position")\nsample_image("chelsea")'
    found = translate.english_in_code(english_code)
    assert sorted(found) == sorted(
        ["# the slide's loss alone", '"plain"', '"layer"', 'f"{n} dogs of 15"', '"response vs position"'])
    russian_code = ('w = widgets.Dropdown(options=[("как на слайде", "plain")], description="рецепт")  # только потери\n'
                    'print(f"{n} собак из 15")\nmodel.class_index("golden retriever")\nshow_images([x], ["image"][:0])')
    assert translate.english_in_code(russian_code) == []
    assert translate.forbidden_terms("Откройте ноутбук 02 и правило цепочки") == [
        ("ноутбук 0", "блокнот («ноутбук» — только компьютер)"), ("правило цепочки", "цепное правило")]
    assert translate.forbidden_terms("на процессоре ноутбука; `padding=1`; цепное правило") == []
    assert translate.latin_names("Ulyanov и соавторы; *Instance Normalization* (Ulyanov)") == [("Ulyanov", "Ульянов")]
    assert translate.latin_names("Слайд «Модель Hubel & Weisel»: Хьюбел и Визель") == []
    assert translate.english_formula_words(r"$a \text{ if } b$, $x \text{или} y$") == [" if "]
    assert translate.decimal_points("доля 0.5, $\\sigma = 0.15$; `noise=0.15`, torch 2.14.1, §4.2, [ссылка](a/0.5.html)") == [
        "0.5", "0.15"]
    assert translate.decimal_points("доля 0,5, $\\sigma = 0{,}15$, 1.x") == []
    assert translate.latin_names("**Визуализация** (Simonyan, *Deep Inside\nNetworks*); * **SmoothGrad** (Smilkov)") == [
        ("Simonyan", "Симонян"), ("Smilkov", "Смилков")]


def test_library_messages_follow_the_glossary():
    catalogue = json.loads((ROOT / "course_lib" / "locale" / "ru.json").read_text(encoding="utf-8"))
    texts = [t for v in catalogue.values() for t in ([v] if isinstance(v, str) else v)]
    bad = [(t, term) for t in texts for term in translate.forbidden_terms(t)]
    assert not bad, bad
