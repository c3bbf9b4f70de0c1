"""The language of what a user reads at run time: ``tr("English text {x}", x=...)``.

English is the source and the default. ``COURSE_LIB_LANG=ru`` (set by the Russian notebooks
themselves, read at every call so a notebook can set it after import) switches to the
catalogue ``course_lib/locale/<lang>.json``: ``{"English msgid": "translation"}``, where the
msgid is the literal first argument of ``tr`` with its ``{placeholders}`` unfilled. A msgid
without a translation is shown in English (tests check that every msgid has one).
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


def tr(msgid: str, **values) -> str:
    """``msgid`` in the user's language, with ``{name}`` fields filled from ``values``."""
    text = catalogue(language()).get(msgid, msgid)
    return text.format(**values) if values else text
