"""The language of what a user reads at run time: ``tr("English text {x}", x=...)``.

English is the source and the default. ``COURSE_LIB_LANG=ru`` (set by the Russian notebooks
themselves, read at every call so a notebook can set it after import) switches to the
catalogue ``course_lib/locale/<lang>.json``: ``{"English msgid": "translation"}``, where the
msgid is the literal first argument of ``tr`` with its ``{placeholders}`` unfilled. A msgid
without a translation is shown in English (tests check that every msgid has one).

A number before a noun takes the noun's plural form: ``trn("{n} step", "{n} steps", n)``. The
catalogue gives such a msgid (the English singular) a list of forms, as gettext's ``ngettext``
does; Russian has three (1 шаг, 2 шага, 5 шагов), chosen by ``PLURAL_RULES``.

Numbers filled into a message are written the language's way: ``tr("spread {s:.2f}", s=0.5)`` is
``разброс 0,50`` in Russian (decimal comma; a space, not a comma, between thousands). Only number
values change; a number already turned into a string (a value the student types in code) is left alone.
Figures follow too: ``course_lib.display`` makes matplotlib's tick labels pass through ``decimal_comma``.
"""
import json
import numbers
import os
import re
import string
from functools import lru_cache
from pathlib import Path

LOCALE_DIR = Path(__file__).with_name("locale")


def language() -> str:
    """The user's language code: ``COURSE_LIB_LANG`` (``en`` when unset)."""
    return os.environ.get("COURSE_LIB_LANG", "en").strip().lower() or "en"


@lru_cache(maxsize=None)
def catalogue(lang: str) -> dict:
    """The translations for ``lang`` (empty for English or a language with no catalogue)."""
    path = LOCALE_DIR / f"{lang}.json"
    if lang == "en" or not path.exists():
        return {}
    return json.loads(path.read_text(encoding="utf-8"))


def russian_plural(n: int) -> int:
    """Which of the three Russian forms goes with ``n``: 0 (1, 21, 101 шаг), 1 (2-4, 22 шага), 2 (5-20, 11-14 шагов).

    The rule of gettext's ``Plural-Forms`` header for Russian.
    """
    n = abs(int(n))
    if n % 10 == 1 and n % 100 != 11:
        return 0
    if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
        return 1
    return 2


PLURAL_RULES = {"en": lambda n: 0 if n == 1 else 1, "ru": russian_plural}
DECIMAL_COMMA = {"ru"}        # languages that write 0,5 and 12 345


def number(value, spec: str = "") -> str:
    """``format(value, spec)`` written the user's way: ``number(0.5, ".2f")`` is ``0,50`` in Russian."""
    text = format(value, spec)
    if language() in DECIMAL_COMMA:
        text = text.replace(",", "\u00a0").replace(".", ",")
    return text


_POINT_IN_NUMBER = re.compile(r"(?<=\d)\.(?=\d)")


def decimal_comma(text: str) -> str:
    """A number matplotlib wrote (``0.5``, ``$\\mathdefault{0.5}$``) written the user's way: ``0,5`` in Russian.

    Inside mathtext the comma is ``{,}`` (a bare comma there is punctuation, followed by a space).
    """
    if language() not in DECIMAL_COMMA:
        return text
    return _POINT_IN_NUMBER.sub("{,}" if "$" in text else ",", text)


class _Formatter(string.Formatter):
    """``str.format`` that writes number fields with ``number``."""

    def format_field(self, value, spec):
        is_number = (isinstance(value, numbers.Real) and not isinstance(value, bool)
                     or getattr(value, "ndim", None) == 0 and hasattr(value, "item"))   # a 0-d tensor or array
        return number(value, spec) if is_number else super().format_field(value, spec)


_FORMATTER = _Formatter()


def tr(msgid: str, **values) -> str:
    """``msgid`` in the user's language, with ``{name}`` fields filled from ``values``."""
    text = catalogue(language()).get(msgid, msgid)
    return _FORMATTER.format(text, **values) if values else text


def trn(singular: str, plural: str, n, **values) -> str:
    """``singular`` or ``plural`` (the English forms) in the user's language, the form chosen by ``n``.

    ``n`` also fills the ``{n}`` field. Works like gettext's ``ngettext``: the catalogue maps the
    English singular to the list of the language's forms.
    """
    values.setdefault("n", n)
    forms = catalogue(language()).get(singular)
    if isinstance(forms, list) and forms:
        rule = PLURAL_RULES.get(language(), PLURAL_RULES["en"])
        text = forms[min(rule(n), len(forms) - 1)]
    else:
        text = singular if PLURAL_RULES["en"](n) == 0 else plural
    return _FORMATTER.format(text, **values)
