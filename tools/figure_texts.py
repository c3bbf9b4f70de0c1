"""The words a Russian student reads inside the figures of a Russian notebook.

    python tools/figure_texts.py notebooks/ru/05_saliency.ipynb [...] [--all]

Runs each notebook headless in quick mode (``course_lib.notebook_runner``) with one extra first
cell that records every text matplotlib draws — titles, axis labels, legends, annotations, tick
labels — with the cell that drew it (a figure drawn later, by a widget callback or a figure object
shown afterwards, is reported at the cell running then). ``tools/translate.py lint`` reads the notebook's code; this
reads what the code *made*, so it also sees labels built at run time (``f"{name}: {method}"`` from
a dictionary key, a library's ``ax.set_title``).

Reported, per text (``--all`` lists every text drawn):

* **english**: a Latin word outside the allow-list of ``tools/translate.py lint`` (ImageNet class
  names, sample and model names, ``translations/ru/GLOSSARY.md``'s allowed table); code names
  (``conv1``, ``features.3``, ``mixed_5b``: a digit, ``_`` or ``.`` inside; the bundled net's layer
  names ``stem``, ``head``, ``logits``), acronyms (``OSI``, ``RGB``) and single letters (``x``, ``A``)
  pass, and so does maths between ``$``;
* **decimal**: a decimal point in a number (``0.5``): Russian writes ``0,5`` (GLOSSARY.md). Tick
  labels are checked too, mathtext ones (``$\\mathdefault{0.5}$``) included: ``course_lib.display``
  gives linear axes a formatter that writes the decimal comma, so a point there means an axis that
  bypasses it (a formatter the notebook set, a ``FixedFormatter`` of preformatted strings).
"""
import argparse
import importlib.util
import json
import os
import re
import sys
import tempfile
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from course_lib import load_model  # noqa: E402
from course_lib.notebook_runner import run_notebook  # noqa: E402

_spec = importlib.util.spec_from_file_location("translate", ROOT / "tools" / "translate.py")
translate = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(translate)

RECORDER_ID = "figure-texts-recorder"
# The first cell of the run: wraps Text.draw (called only for a text that is visible and drawn) and
# Axis.draw (to tell tick labels from the axis label); appends one JSON line per text to $FIGURE_TEXTS.
RECORDER = '''
import json as _json, os as _os
import matplotlib.axis as _axis, matplotlib.text as _text
from IPython import get_ipython as _ipython
_drawing_axis, _cell = [], [None]
# the inline backend draws a cell's figures after the cell, when the execution count has moved on
_ipython().events.register("pre_run_cell", lambda info: _cell.__setitem__(0, _ipython().execution_count))

def _recording_text_draw(self, renderer, _draw=_text.Text.draw):
    if self.get_visible() and self.get_text().strip():
        axis = _drawing_axis[-1] if _drawing_axis else None
        kind = "tick" if axis is not None and self is not axis.label and self is not axis.offsetText else "text"
        with open(_os.environ["FIGURE_TEXTS"], "a", encoding="utf-8") as out:
            out.write(_json.dumps({"count": _cell[0], "kind": kind, "text": self.get_text()},
                                  ensure_ascii=False) + "\\n")
    return _draw(self, renderer)

def _recording_axis_draw(self, renderer, _draw=_axis.Axis.draw):
    _drawing_axis.append(self)
    try:
        return _draw(self, renderer)
    finally:
        _drawing_axis.pop()

_text.Text.draw, _axis.Axis.draw = _recording_text_draw, _recording_axis_draw
'''
MATH = re.compile(r"\$[^$]*\$")
LATIN = re.compile(r"[A-Za-z][A-Za-z0-9_.'-]*")
DECIMAL = re.compile(r"(?<![\w.])\d+\.\d+(?![\w.])")


def drawn_texts(notebook: Path, timeout: int = 600) -> list:
    """[(cell id, kind, text)] for every text drawn while ``notebook`` runs headless in quick mode."""
    nb = nbformat.read(notebook, as_version=4)
    recorder = nbformat.v4.new_code_cell(RECORDER)
    recorder.id = RECORDER_ID
    nb.cells.insert(0, recorder)
    with tempfile.TemporaryDirectory() as tmp:
        record = Path(tmp) / "texts.jsonl"
        record.touch()
        run = run_notebook(nb, cwd=notebook.parent, quick=True, env={"FIGURE_TEXTS": str(record)},
                           timeout=timeout, check=False)
        lines = [json.loads(line) for line in record.read_text(encoding="utf-8").splitlines()]
    if run.error:
        raise RuntimeError(f"{notebook.name}: {run.error}")
    cells = {c.execution_count: c.id for c in run.nb.cells if c.cell_type == "code"}
    seen, texts = set(), []
    for line in lines:
        item = (cells.get(line["count"], "?"), line["kind"], line["text"])
        if item not in seen:      # a figure drawn twice (widgets redraw) is one finding
            seen.add(item)
            texts.append(item)
    return texts


def allowed_phrases() -> re.Pattern:
    """Allowed English (class names of several words included) as one pattern, longest first."""
    phrases = sorted(translate._allowed_text() | set(load_model().layer_names), key=len, reverse=True)
    return re.compile(r"(?<![\w])(?:" + "|".join(map(re.escape, phrases)) + r")(?![\w])", re.I)


def english_words(text: str, allowed: re.Pattern) -> list:
    """The Latin words of a figure text a Russian reader should not see."""
    plain = allowed.sub(" ", MATH.sub(" ", text))
    return [w for w in LATIN.findall(plain)
            if len(w.strip(".'-")) > 1 and not re.search(r"[\d_]|\w\.\w", w) and not w.isupper()]


def problems(texts: list, allowed: re.Pattern | None = None) -> list:
    """[(cell id, kind of problem, text)]: English words, and decimal points (in tick labels, inside maths too)."""
    allowed = allowed_phrases() if allowed is None else allowed
    found = []
    for cell, kind, text in texts:
        if english_words(text, allowed):
            found.append((cell, "english", text))
        if DECIMAL.search(text if kind == "tick" else MATH.sub(" ", text)):
            found.append((cell, "decimal", text))
    return found


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--all", action="store_true", help="list every text drawn, not only the problems")
    args = parser.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    allowed, bad = allowed_phrases(), 0
    for notebook in args.notebooks:
        texts = drawn_texts(notebook)
        found = problems(texts, allowed)
        bad += bool(found)
        print(f"{notebook}: {len(texts)} texts drawn, {len(found)} problems")
        for cell, kind, text in (texts if args.all else found):
            print(f"  {kind:<8} {cell}: {text!r}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
