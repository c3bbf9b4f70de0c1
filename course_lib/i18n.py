"""The language of what a user reads at run time: ``tr("English text {x}", x=...)``.

English is the source and the default. ``COURSE_LIB_LANG=ru`` (set by the Russian notebooks
themselves, read at every call so a notebook can set it after import) switches to the
catalogue ``course_lib/locale/<lang>.json``: ``{"English msgid": "translation"}``, where the
msgid is the literal first argument of ``tr`` with its ``{placeholders}`` unfilled. A msgid
without a translation is shown in English (tests check that every msgid has one).

A number before a noun takes the noun's plural form: ``trn("{n} step", "{n} steps", n)``. The
catalogue gives such a msgid (the English singular) a list of forms, as gettext's ``ngettext``
does; Russian has three (1 шаг, 2 шага, 5 шагов), chosen by ``PLURAL_RULES``.
"""
import json
import os
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


def tr(msgid: str, **values) -> str:
    """``msgid`` in the user's language, with ``{name}`` fields filled from ``values``."""
    text = catalogue(language()).get(msgid, msgid)
    return text.format(**values) if values else text


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
    return text.format(**values)
