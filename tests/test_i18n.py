"""Run-time text in Russian: every ``tr("...")`` msgid in course_lib has a Russian translation.

The msgids are found by reading the source (an AST scan), so a new message wrapped in ``tr`` fails
here until ``course_lib/locale/ru.json`` translates it, with the same ``{placeholders}``.
"""
import ast
import json
import string
from pathlib import Path

import pytest

from course_lib import i18n
from course_lib.i18n import tr

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "course_lib"
RU = PACKAGE / "locale" / "ru.json"
SAME_IN_RUSSIAN = {"(URL)", "DeepDream {name}"}   # names, written the same in both languages


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
            if name in ("tr", "check_name") and isinstance(first, ast.Constant) and isinstance(first.value, str):
                found.setdefault(first.value, f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def fields(text: str) -> set:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


def test_the_scan_finds_the_messages():
    msgids = literal_msgids()
    assert "probability" in msgids and "no such file: {path}" in msgids and "layer" in msgids


def test_every_msgid_has_a_russian_translation_with_the_same_placeholders():
    catalogue = json.loads(RU.read_text(encoding="utf-8"))
    missing = {m: where for m, where in literal_msgids().items() if not catalogue.get(m, "").strip()}
    assert not missing, "add these to course_lib/locale/ru.json:\n" + "\n".join(
        f"  {where}: {m!r}" for m, where in missing.items())
    wrong = {m: (fields(m), fields(catalogue[m])) for m in literal_msgids() if fields(m) != fields(catalogue[m])}
    assert not wrong, f"placeholders differ between msgid and translation: {wrong}"


def test_the_catalogue_is_russian():
    catalogue = json.loads(RU.read_text(encoding="utf-8"))
    latin_only = [m for m, t in catalogue.items()
                  if m not in SAME_IN_RUSSIAN and not any("а" <= ch.lower() <= "я" for ch in t)]
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
