"""Run-time text in Russian: every ``tr("...")`` msgid in course_lib has a Russian translation.

The msgids are found by reading the source (an AST scan), so a new message wrapped in ``tr`` fails
here until ``course_lib/locale/ru.json`` translates it, with the same ``{placeholders}``.
"""
import ast
import json
import re
import string
from pathlib import Path

import pytest

from course_lib import i18n
from course_lib.i18n import tr, trn

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "course_lib"
RU = PACKAGE / "locale" / "ru.json"
SAME_IN_RUSSIAN = {"(URL)", "DeepDream {name}", "deconvnet", "{name} {where} x{zoom:g}"}   # names, written the same in both languages
# Modules whose English output is not shown in a notebook: the command-line tools (their --help and
# progress lines are English like every shell tool of the course) and the test-only assertions of display.
# grade's, grade_checks', grade_session's and grade_wire's errors reach the grader's log (a developer), never a
# student's cell.
NOT_SHOWN_IN_NOTEBOOKS = {"fetch.py", "grade.py", "grade_checks.py", "grade_session.py", "i18n.py", "doctor.py",
                          "notebook_runner.py", "grade_wire.py"}
# Calls that put text in front of the student: figure titles, axis labels, legends, printed lines, widgets.
SHOWN = {"set_title", "set_xlabel", "set_ylabel", "suptitle", "print", "text", "warn"}
SHOWN_KEYWORDS = {"title", "xlabel", "ylabel", "label", "suptitle", "description", "titles"}
# Errors raised only to developers and tests (never by a student's call): allowed in English.
DEVELOPER_ERRORS = {"a deliberate bad-input demonstration expected", "these categories are not in ImageNet order",
                    "must be an image tensor [B, 3, H, W]", "side must be 'top'", "is too small for an edge band",
                    "download failed: {e}"}


def literal_msgids():
    """{msgid: "file:line"} for every ``tr("literal", ...)`` call, and the literal kinds given to
    ``check_name`` (its message translates the kind with ``tr(kind)``)."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and node.args):
                continue
            name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", None)
            first = node.args[0]
            if name in ("tr", "trn", "check_name") and isinstance(first, ast.Constant) and isinstance(first.value, str):
                found.setdefault(first.value, f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def plural_msgids():
    """{singular: (plural, "file:line")} for every ``trn("singular", "plural", n, ...)`` call."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "trn"
                    and len(node.args) >= 2 and all(isinstance(a, ast.Constant) for a in node.args[:2])):
                found[node.args[0].value] = (node.args[1].value, f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def fields(text: str) -> set:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


def test_the_scan_finds_the_messages():
    msgids = literal_msgids()
    assert "probability" in msgids and "no such file: {path}" in msgids and "layer" in msgids


def test_every_msgid_has_a_russian_translation_with_the_same_placeholders():
    catalogue = json.loads(RU.read_text(encoding="utf-8"))
    missing = {m: where for m, where in literal_msgids().items() if not str(catalogue.get(m, "")).strip()}
    assert not missing, "add these to course_lib/locale/ru.json:\n" + "\n".join(
        f"  {where}: {m!r}" for m, where in missing.items())
    plurals = plural_msgids()
    singular = {m: catalogue[m] for m in literal_msgids() if m not in plurals}
    wrong = {m: (fields(m), fields(t)) for m, t in singular.items() if not isinstance(t, str) or fields(m) != fields(t)}
    assert not wrong, f"placeholders differ between msgid and translation: {wrong}"
    for m, (plural, where) in plurals.items():
        forms = catalogue[m]
        assert isinstance(forms, list) and len(forms) == 3, f"{where}: {m!r} needs the three Russian plural forms"
        assert fields(m) == fields(plural) and all(fields(f) == fields(plural) for f in forms), (where, m, forms)


def test_the_catalogue_is_russian():
    catalogue = json.loads(RU.read_text(encoding="utf-8"))
    latin_only = [m for m, t in catalogue.items()
                  if m not in SAME_IN_RUSSIAN and not all(any("а" <= ch.lower() <= "я" for ch in form)
                                                          for form in ([t] if isinstance(t, str) else t))]
    assert not latin_only, f"translations without a single Cyrillic letter: {latin_only}"


def test_tr_follows_the_environment_at_each_call(monkeypatch):
    monkeypatch.delenv("COURSE_LIB_LANG", raising=False)
    assert tr("no such file: {path}", path="x.jpg") == "no such file: x.jpg"
    monkeypatch.setenv("COURSE_LIB_LANG", "ru")
    assert tr("no such file: {path}", path="x.jpg") == "нет такого файла: x.jpg"
    assert tr("a message nobody translated") == "a message nobody translated"
    monkeypatch.setenv("COURSE_LIB_LANG", "xx")   # unknown language: English
    assert tr("probability") == "probability"


def test_library_errors_speak_russian(monkeypatch):
    from course_lib import ImageError, load_image, load_model
    from course_lib.models import UnknownNameError

    monkeypatch.setenv("COURSE_LIB_LANG", "ru")
    with pytest.raises(ImageError, match="пуст"):
        load_image(b"")
    with pytest.raises(UnknownNameError, match="неизвестн.*слой"):
        load_model().layer("no_such_layer")
    i18n.catalogue.cache_clear()


@pytest.mark.parametrize("n, form", [(0, "шагов"), (1, "шаг"), (2, "шага"), (4, "шага"), (5, "шагов"), (11, "шагов"),
                                     (12, "шагов"), (14, "шагов"), (21, "шаг"), (22, "шага"), (25, "шагов"),
                                     (101, "шаг"), (111, "шагов"), (112, "шагов"), (1000, "шагов")])
def test_russian_plural_forms(n, form):
    forms = ("шаг", "шага", "шагов")
    assert forms[i18n.russian_plural(n)] == form


def test_trn_picks_the_form_of_the_number(monkeypatch):
    msg = ("{desc}: interrupted after {n} step; returning the current image",
           "{desc}: interrupted after {n} steps; returning the current image")
    monkeypatch.delenv("COURSE_LIB_LANG", raising=False)
    assert trn(*msg, 1, desc="d").startswith("d: interrupted after 1 step;")
    assert trn(*msg, 2, desc="d").startswith("d: interrupted after 2 steps;")
    monkeypatch.setenv("COURSE_LIB_LANG", "ru")
    shown = {n: trn(*msg, n, desc="d") for n in (1, 2, 5, 11, 21, 22, 111)}
    assert [shown[n].split(";")[0] for n in (1, 2, 5, 11, 21, 22, 111)] == [
        "d: прервано после 1 шага", "d: прервано после 2 шагов", "d: прервано после 5 шагов",
        "d: прервано после 11 шагов", "d: прервано после 21 шага", "d: прервано после 22 шагов",
        "d: прервано после 111 шагов"]


def english_shown_literals():
    """["file:line: text"] for each literal English text course_lib shows without ``tr``: the argument of a
    figure title, axis label, legend, print or warning, and the message of a raised error."""
    found = []
    for path in sorted(PACKAGE.glob("*.py")):
        if path.name in NOT_SHOWN_IN_NOTEBOOKS:
            continue
        source = path.read_text(encoding="utf-8")
        for node in ast.walk(ast.parse(source)):
            texts = []
            if isinstance(node, ast.Call):
                name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", None)
                if name in SHOWN:
                    texts += node.args[:1]
                texts += [k.value for k in node.keywords if k.arg in SHOWN_KEYWORDS]
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call) and node.exc.args:
                texts += node.exc.args[:1]
            for text in texts:
                segment = ast.get_source_segment(source, text) or ""
                words = re.findall(r"[a-z]{3,}", re.sub(r"\{[^{}]*\}", "", segment))
                if isinstance(text, (ast.Constant, ast.JoinedStr)) and len(words) >= 1 and not any(
                        allowed in segment for allowed in DEVELOPER_ERRORS):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {segment[:80]}")
    return found


def test_what_course_lib_shows_goes_through_tr():
    """Figure titles, labels, printed lines and error messages are tr(...) calls, so the Russian edition shows Russian."""
    left = english_shown_literals()
    assert not left, "wrap these in tr(...) and translate them in course_lib/locale/ru.json:\n" + "\n".join(left)


def test_numbers_in_a_message_are_written_the_russian_way(monkeypatch):
    """Russian writes 0,5 and 12 345: tr formats number fields so; strings (a value typed in code) stay as they are."""
    import numpy as np
    import torch

    spread = "{name}: constant input\nspread {spread:.2f}"
    monkeypatch.setenv("COURSE_LIB_LANG", "ru")
    assert tr(spread, name="x", spread=0.5).endswith("разброс 0,50")
    assert tr(spread, name="x", spread=torch.tensor(0.25)).endswith("разброс 0,25")       # a 0-d tensor
    assert tr(spread, name="x", spread=np.float32(0.125)).endswith("разброс 0,12")
    assert tr("{message} ({size:,} bytes received)", message="m", size=1234567) == "m (получено байт: 1\u00a0234\u00a0567)"
    assert tr(spread, name="0.5", spread=1).endswith("0.5: постоянный вход\nразброс 1,00")  # a string keeps its point
    assert trn("{n} step", "{n} steps", 2.5).startswith("2,5")
    assert i18n.number(0.5, ".1f") == "0,5" and i18n.number(3) == "3"
    monkeypatch.setenv("COURSE_LIB_LANG", "en")
    assert tr(spread, name="x", spread=0.5).endswith("spread 0.50")
    assert i18n.number(1234.5, ",.1f") == "1,234.5"


def russian_jupyterlab_catalogue() -> dict:
    """The message catalogue of the JupyterLab Russian language pack ({msgid: [translation]}), if installed."""
    import importlib.util
    spec = importlib.util.find_spec("jupyterlab_language_pack_ru_RU")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("jupyterlab-language-pack-ru-RU is not installed")
    path = Path(list(spec.submodule_search_locations)[0]) / "locale" / "ru_RU" / "LC_MESSAGES" / "jupyterlab.json"
    return json.loads(path.read_text(encoding="utf-8"))


def menu_label(catalogue: dict, english: str) -> str:
    """A menu or menu item's Russian label: JupyterLab's ``menu`` context first (gettext's msgctxt, joined by \\x04)."""
    entry = catalogue.get("menu\x04" + english) or catalogue.get(english)
    assert entry, f"JupyterLab's Russian catalogue has no {english!r}"
    return entry[0] if isinstance(entry, list) else entry


def test_menu_paths_in_russian_messages_are_the_russian_jupyterlab_menus():
    """A message pointing to "Edit > Clear Outputs of All Cells" names the menus the Russian interface shows."""
    jupyterlab = russian_jupyterlab_catalogue()
    catalogue = json.loads(RU.read_text(encoding="utf-8"))
    paths = {msgid: re.search(r"\(([A-Z][\w ]+(?: > [A-Z][\w ]+)+)\)", msgid) for msgid in catalogue}
    paths = {msgid: m[1].split(" > ") for msgid, m in paths.items() if m}
    assert paths, "no message names a menu path any more: is this test still needed?"
    for msgid, items in paths.items():
        russian = "«" + " → ".join(menu_label(jupyterlab, item) for item in items) + "»"
        assert russian in catalogue[msgid], f"{msgid!r}: the Russian message should name the menu path {russian}"


def preformatted_numbers():
    """``tr(..., x=f"{value:.1f}")`` or ``x=str(round(value))``: a number made text before tr could write it the user's way."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            name = getattr(node.func, "id", None) if isinstance(node, ast.Call) else None
            for keyword in node.keywords if name in ("tr", "trn") else ():
                inner = list(ast.walk(keyword.value))
                if (any(isinstance(x, ast.FormattedValue) and x.format_spec for x in inner)
                        or any(isinstance(x, ast.Call) and getattr(x.func, "id", None) == "round" for x in inner)):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {keyword.arg}={ast.unparse(keyword.value)[:60]}")
    return found


def test_library_messages_leave_number_formatting_to_tr(monkeypatch):
    """A number reaches tr as a number, the format in the msgid (``{size:.1f} MB``), so Russian shows ``12,3 МБ``."""
    from course_lib.checker import compare
    left = preformatted_numbers()
    assert not left, "pass the number and put the format in the msgid ({x:.1f}):\n" + "\n".join(left)
    monkeypatch.setenv("COURSE_LIB_LANG", "ru")
    got = compare(torch_tensor(0.5), torch_tensor(0.25), "x", atol=0.0, rtol=0.0)
    assert got == "x: отклонение до 0,25 (допустимо 0); получено 0,5, ожидалось 0,25", got
    monkeypatch.setenv("COURSE_LIB_LANG", "en")
    assert compare(torch_tensor(0.5), torch_tensor(0.25), "x", atol=0.0, rtol=0.0) == \
        "x is off by up to 0.25 (allowed 0); got 0.5, expected 0.25"


def torch_tensor(value):
    import torch
    return torch.tensor([value])
