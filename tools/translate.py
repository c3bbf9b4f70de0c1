"""The Russian edition of the notebooks, built from the English ones and gettext catalogues.

The English notebooks stay the one source of the code. Each one has a catalogue
``translations/ru/<path>.po`` (e.g. ``translations/ru/00_tour.po``,
``translations/ru/exercises/01_hubel_wiesel.po``) with two kinds of entries:

* a **prose cell** (markdown): ``msgctxt`` = the cell id, ``msgid`` = the English source of the
  cell, ``msgstr`` = its Russian text;
* a **string in a code cell**: ``msgctxt`` = ``"<cell id> code"``, ``msgid`` = an exact fragment of
  the English cell holding a string literal or a comment (``"run"``, ``description="layer"``,
  ``# the slide's example``) and ``msgstr`` = what replaces it. Only the fragments listed are
  replaced, so names the code needs (``"chelsea"``, ``"block3"``) stay as they are; a test checks
  that the Russian cell is the same code with other strings only.

Because the English text is stored as the ``msgid``, a translation is *stale* as soon as the
English cell changes: ``update`` then keeps the old Russian text, flags it ``fuzzy`` and records the
old English as ``#| msgid`` (every PO editor — Poedit, Lokalize, Weblate — shows what changed).

Usage (from the repository root):
    python tools/translate.py status            # list untranslated / stale cells (exit 1 if any)
    python tools/translate.py update            # sync the catalogues with the English notebooks
    python tools/translate.py todo [NOTEBOOK]   # untranslated/stale cells as a file to fill in
    python tools/translate.py import FILE       # read that file back (or '-' for stdin)
    python tools/translate.py set NOTEBOOK CELL_ID [FILE]   # one cell's translation (stdin if no FILE)
    python tools/translate.py build             # (re)write notebooks/ru/
    python tools/translate.py build --check     # exit 1 if notebooks/ru/ is out of date
    python tools/translate.py lint [NOTEBOOK]   # English still shown, terms translations/ru/GLOSSARY.md forbids,
                                                # decimal points (Russian writes 0,5; 0{,}5 in formulas)

NOTEBOOK is a path relative to notebooks/ with or without ``.ipynb`` (``00_tour``,
``exercises/02_relu_rules``).
"""
import argparse
import copy
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import polib

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
LANG = "ru"
CATALOGUES = ROOT / "translations" / LANG
OUTPUT = NOTEBOOKS / LANG
SOURCES = ("[0-9][0-9]_*.ipynb", "[0-9][0-9][a-z]_*.ipynb", "exercises/[0-9][0-9]_*.ipynb")   # 05b: a companion
CODE = " code"                      # msgctxt suffix of a code-cell fragment
LANG_CELL_ID = f"course-lib-lang-{LANG}"
LANG_CELL = (
    "# Русская редакция. Этот блокнот собран скриптом tools/translate.py из {source};\n"
    "# правьте английский оригинал и перевод в {catalogue}, а не этот файл.\n"
    "import os\n"
    'os.environ["COURSE_LIB_LANG"] = "{lang}"   # сообщения course_lib — по-русски\n'
    "# Рабочая папка — та же, что у английского блокнота, чтобы относительные пути совпадали:\n"
    'if os.path.exists("{source}"):\n'
    '    os.chdir(os.path.dirname(os.path.abspath("{source}")))'
)
# A code fragment holds a string literal or a comment.
FRAGMENT = re.compile(r"[\"'#]")
TODO_HEADER = re.compile(r"^<<<< (?P<notebook>\S+) (?P<cell>\S+)(?P<code> code (?P<fragment>.*))? >>>>$")


def sources() -> list[Path]:
    """The English notebooks that have a Russian edition, as paths relative to notebooks/."""
    return sorted(p.relative_to(NOTEBOOKS) for pattern in SOURCES for p in NOTEBOOKS.glob(pattern))


def notebook_arg(name: str) -> Path:
    rel = Path(name if name.endswith(".ipynb") else name + ".ipynb")
    if rel.parts and rel.parts[0] == "notebooks":
        rel = Path(*rel.parts[1:])
    if rel not in sources():
        raise SystemExit(f"no English notebook {rel} (choose from: {', '.join(map(str, sources()))})")
    return rel


def catalogue_path(rel: Path) -> Path:
    return CATALOGUES / rel.with_suffix(".po")


def read_notebook(rel: Path) -> nbformat.NotebookNode:
    return nbformat.read(NOTEBOOKS / rel, as_version=4)


def read_catalogue(rel: Path) -> polib.POFile:
    path = catalogue_path(rel)
    if path.exists():
        return polib.pofile(str(path), wrapwidth=0)
    po = polib.POFile(wrapwidth=0)
    po.metadata = {"Project-Id-Version": f"nn-art notebooks/{rel}", "Language": LANG,
                   "MIME-Version": "1.0", "Content-Type": "text/plain; charset=UTF-8",
                   "Content-Transfer-Encoding": "8bit"}
    return po


def save_catalogue(rel: Path, po: polib.POFile) -> None:
    path = catalogue_path(rel)
    path.parent.mkdir(parents=True, exist_ok=True)
    po.sort(key=lambda e: (e.obsolete, e.occurrences and int(e.occurrences[0][1]) or 0, e.msgctxt or ""))
    po.save(str(path))


def prose_cells(nb) -> list:
    return [cell for cell in nb.cells if cell.cell_type in ("markdown", "raw")]


@dataclass
class Report:
    """What a catalogue lacks for one notebook."""
    notebook: Path
    missing: list = field(default_factory=list)     # prose cells with no translation at all
    stale: list = field(default_factory=list)       # (cell id, entry): English changed or flagged fuzzy
    lost: list = field(default_factory=list)        # code entries whose fragment is gone from the cell
    orphans: list = field(default_factory=list)     # entries for cells that no longer exist

    @property
    def ok(self) -> bool:
        return not (self.missing or self.stale or self.lost or self.orphans)


def entries(po: polib.POFile) -> list:
    return [e for e in po if not e.obsolete]


def check(rel: Path, nb=None, po=None) -> Report:
    nb = nb if nb is not None else read_notebook(rel)
    po = po if po is not None else read_catalogue(rel)
    report = Report(rel)
    by_id = {cell.id: cell for cell in nb.cells}
    prose = {e.msgctxt: e for e in entries(po) if e.msgctxt and not e.msgctxt.endswith(CODE)}
    for cell in prose_cells(nb):
        entry = prose.get(cell.id)
        if entry is None or not entry.msgstr.strip():
            report.missing.append(cell.id)
        elif entry.msgid != cell.source or "fuzzy" in entry.flags:
            report.stale.append((cell.id, entry))
    for entry in entries(po):
        cell_id = (entry.msgctxt or "").removesuffix(CODE)
        cell = by_id.get(cell_id)
        if cell is None or (entry.msgctxt.endswith(CODE)) != (cell.cell_type == "code"):
            report.orphans.append(entry)
        elif entry.msgctxt.endswith(CODE) and (entry.msgid not in cell.source or not entry.msgstr
                                               or "fuzzy" in entry.flags):
            report.lost.append((cell_id, entry))
    return report


# ---------------------------------------------------------------------------------------------
# build

def translate_code(source: str, fragments: list) -> str:
    """The code cell with each listed fragment replaced (longest first, so nested ones stay right)."""
    for entry in sorted(fragments, key=lambda e: -len(e.msgid)):
        if entry.msgstr and entry.msgid in source:
            source = source.replace(entry.msgid, entry.msgstr)
    return source


def russian_notebook(rel: Path, nb=None, po=None) -> nbformat.NotebookNode:
    """The Russian edition of one notebook: translated prose, translated strings, same code.

    A prose cell with no translation stays English and a stale one keeps its old Russian text;
    ``status`` and the tests report both.
    """
    nb = copy.deepcopy(nb if nb is not None else read_notebook(rel))
    po = po if po is not None else read_catalogue(rel)
    prose = {e.msgctxt: e for e in entries(po) if e.msgctxt and not e.msgctxt.endswith(CODE)}
    code = {}
    for e in entries(po):
        if e.msgctxt and e.msgctxt.endswith(CODE):
            code.setdefault(e.msgctxt.removesuffix(CODE), []).append(e)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.source = translate_code(cell.source, code.get(cell.id, []))
            cell.outputs, cell.execution_count = [], None
        elif cell.id in prose and prose[cell.id].msgstr.strip():
            cell.source = prose[cell.id].msgstr
    first_code = next((i for i, c in enumerate(nb.cells) if c.cell_type == "code"), len(nb.cells))
    depth = "../" * (len(rel.parts))
    lang_cell = nbformat.v4.new_code_cell(LANG_CELL.format(
        source=f"{depth}{rel.as_posix()}", catalogue=f"translations/{LANG}/{rel.with_suffix('.po').as_posix()}",
        lang=LANG))
    lang_cell.id = LANG_CELL_ID
    nb.cells.insert(first_code, lang_cell)
    nb.metadata.setdefault("language_info", {})
    return nb


def render(nb) -> str:
    return nbformat.writes(nb) + "\n"


def expected_notebooks() -> dict:
    """{path of a Russian notebook: its text} for every English source."""
    return {OUTPUT / rel: render(russian_notebook(rel)) for rel in sources()}


def build(check_only: bool) -> int:
    expected = expected_notebooks()
    stale = [p for p, text in expected.items() if not p.exists() or p.read_text(encoding="utf-8") != text]
    extra = sorted(p for p in OUTPUT.rglob("*.ipynb")
                   if p not in expected and ".ipynb_checkpoints" not in p.parts) if OUTPUT.exists() else []
    if check_only:
        for path in stale:
            print(f"out of date: {path.relative_to(ROOT)}", file=sys.stderr)
        for path in extra:
            print(f"no English source for: {path.relative_to(ROOT)}", file=sys.stderr)
        if stale or extra:
            print("run: python tools/translate.py build", file=sys.stderr)
            return 1
        print(f"{len(expected)} Russian notebooks are up to date")
        return 0
    for path in stale:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(expected[path], encoding="utf-8")
        print(f"wrote {path.relative_to(ROOT)}")
    for path in extra:
        path.unlink()
        print(f"removed {path.relative_to(ROOT)} (its English source is gone)")
    print(f"{len(expected)} Russian notebooks, {len(stale)} rewritten")
    return 0


# ---------------------------------------------------------------------------------------------
# maintenance

def update(rel: Path) -> int:
    """Sync one catalogue with its notebook (as gettext's msgmerge does); returns the changes made."""
    nb, po = read_notebook(rel), read_catalogue(rel)
    changes = 0
    prose = {e.msgctxt: e for e in entries(po) if e.msgctxt and not e.msgctxt.endswith(CODE)}
    ids = {cell.id for cell in nb.cells}
    # a cell that got a new id but kept its text (e.g. cut and pasted) keeps its translation
    moved = {e.msgid: e for e in po if e.msgctxt and not e.msgctxt.endswith(CODE) and e.msgctxt not in ids}
    for index, cell in enumerate(nb.cells):
        if cell.cell_type not in ("markdown", "raw"):
            continue
        entry = prose.get(cell.id)
        if entry is None and cell.source in moved:
            entry = moved.pop(cell.source)
            entry.msgctxt, entry.obsolete = cell.id, False
        if entry is None:
            po.append(polib.POEntry(msgctxt=cell.id, msgid=cell.source, msgstr="",
                                    occurrences=[(str(rel), str(index))]))
            changes += 1
            continue
        entry.occurrences = [(str(rel), str(index))]
        if entry.msgid != cell.source:
            entry.previous_msgid = entry.previous_msgid or entry.msgid
            entry.msgid = cell.source
            if entry.msgstr and "fuzzy" not in entry.flags:
                entry.flags.append("fuzzy")
            changes += 1
    by_id = {cell.id: (i, cell) for i, cell in enumerate(nb.cells)}
    for entry in entries(po):
        cell_id = (entry.msgctxt or "").removesuffix(CODE)
        if cell_id not in by_id:
            entry.obsolete = True
            changes += 1
        elif entry.msgctxt.endswith(CODE):
            entry.occurrences = [(str(rel), str(by_id[cell_id][0]))]
            if entry.msgid not in by_id[cell_id][1].source:
                entry.obsolete = True
                changes += 1
                print(f"{rel} {cell_id}: the code string {entry.msgid!r} is gone from the English cell; its "
                      f"translation {entry.msgstr!r} is now obsolete. Translate the new string with\n"
                      f"  python tools/translate.py set {rel.with_suffix('').as_posix()} {cell_id} --code 'NEW' <<< 'НОВОЕ'")
    save_catalogue(rel, po)
    return changes


def status(names) -> int:
    rels = [notebook_arg(n) for n in names] or sources()
    bad = 0
    for rel in rels:
        report = check(rel)
        if report.ok:
            continue
        bad += 1
        print(f"{rel}  ({catalogue_path(rel).relative_to(ROOT)})")
        for cell_id in report.missing:
            print(f"  untranslated  {cell_id}")
        for cell_id, entry in report.stale:
            print(f"  stale         {cell_id}" + ("  (fuzzy)" if "fuzzy" in entry.flags else "  (English changed)"))
        for cell_id, entry in report.lost:
            print(f"  code string   {cell_id}: {entry.msgid!r} is no longer in the English cell (or untranslated)")
        for entry in report.orphans:
            print(f"  orphan        {entry.msgctxt}: no such cell; run `update`")
    total = len(rels)
    print(f"{total - bad} of {total} notebooks fully translated" + ("" if bad else "; all up to date"))
    if bad:
        print("next: python tools/translate.py update && python tools/translate.py todo > todo.txt; "
              "edit todo.txt; python tools/translate.py import todo.txt; python tools/translate.py build")
    return 1 if bad else 0


def todo(names) -> int:
    """Print every untranslated or stale prose cell in the format `import` reads back."""
    rels = [notebook_arg(n) for n in names] or sources()
    for rel in rels:
        nb = read_notebook(rel)
        report = check(rel, nb=nb)
        cells = {cell.id: cell for cell in nb.cells}
        for cell_id in report.missing + [c for c, _ in report.stale]:
            entry = next((e for c, e in report.stale if c == cell_id), None)
            print(f"<<<< {rel.with_suffix('').as_posix()} {cell_id} >>>>")
            english = cells[cell_id].source
            old = entry.previous_msgid if entry is not None and entry.previous_msgid else None
            comment = ["English:", *english.splitlines()]
            if old:
                comment += ["", "English when last translated:", *old.splitlines()]
            print("\n".join("@@ " + line for line in comment))
            print(entry.msgstr if entry is not None else "")
    return 0


def set_translation(rel: Path, cell_id: str, text: str, fragment: str | None = None) -> None:
    nb, po = read_notebook(rel), read_catalogue(rel)
    cells = {cell.id: (i, cell) for i, cell in enumerate(nb.cells)}
    if cell_id not in cells:
        raise SystemExit(f"{rel}: no cell with id {cell_id!r}")
    index, cell = cells[cell_id]
    if fragment is not None:
        if cell.cell_type != "code" or fragment not in cell.source or not FRAGMENT.search(fragment):
            raise SystemExit(f"{rel} {cell_id}: {fragment!r} is not a string literal or comment in that code cell")
        context, msgid = cell_id + CODE, fragment
    else:
        if cell.cell_type == "code":
            raise SystemExit(f"{rel} {cell_id} is a code cell: give the string literal to replace")
        context, msgid = cell_id, cell.source
    entry = next((e for e in entries(po) if e.msgctxt == context and (fragment is None or e.msgid == msgid)), None)
    if entry is None:
        entry = polib.POEntry(msgctxt=context, msgid=msgid)
        po.append(entry)
    entry.msgid, entry.msgstr, entry.previous_msgid = msgid, text, None
    entry.occurrences = [(str(rel), str(index))]
    if "fuzzy" in entry.flags:
        entry.flags.remove("fuzzy")
    save_catalogue(rel, po)


def import_file(text: str) -> int:
    """Read blocks ``<<<< NOTEBOOK CELL_ID >>>>`` (a prose cell) or ``<<<< NOTEBOOK CELL_ID code
    FRAGMENT >>>>`` (a string in a code cell) followed by the translation; lines starting with ``@@ `` are comments."""
    blocks, current = [], None
    for line in text.splitlines():
        header = TODO_HEADER.match(line)
        if header:
            current = (header, [])
            blocks.append(current)
        elif current is not None and not line.startswith("@@ "):
            current[1].append(line)
        elif current is None and line.strip():
            raise SystemExit(f"text before the first '<<<< notebook cell >>>>' header: {line!r}")
    for header, lines in blocks:
        body = "\n".join(lines).strip("\n")
        if not body.strip():
            print(f"skipped {header['notebook']} {header['cell']}: empty translation")
            continue
        set_translation(notebook_arg(header["notebook"]), header["cell"], body, header["fragment"])
    print(f"imported {len(blocks)} translations")
    return 0


# ---------------------------------------------------------------------------------------------
# lint: what a Russian reader would still see in English, and terms the glossary forbids

GLOSSARY = CATALOGUES / "GLOSSARY.md"
CYRILLIC = re.compile(r"[А-Яа-яЁё]")
WORD = re.compile(r"[a-z]{3,}")                  # a lowercase English word (acronyms like URL, RGB pass)
MATH = re.compile(r"\$\$.+?\$\$|\$[^$]+\$", re.S)
# where a one-word string is text on the screen, not a value the code uses
SHOWN_CALLS = {"print", "set_title", "set_xlabel", "set_ylabel", "suptitle", "Button", "Label", "HTML", "text",
               "show_images", "show_top_patches"}
SHOWN_KEYWORDS = {"description", "title", "titles", "label", "xlabel", "ylabel", "suptitle", "placeholder",
                  "tooltip", "desc"}
SHOWN_LISTS = {"options", "titles"}


def glossary() -> dict:
    """The glossary's tables: {"terms": [(english, russian, [forbidden, ...])], "names": [(latin, russian)],
    "allowed": [English text a Russian notebook may show: code names, ImageNet classes are allowed anyway]}."""
    tables, current = {"terms": [], "names": [], "allowed": []}, None
    for line in GLOSSARY.read_text(encoding="utf-8").splitlines():
        heading = re.match(r"^## .*\((terms|names|allowed)\)", line)
        if heading:
            current = heading[1]
        elif current and line.startswith("|") and not re.match(r"^\|\s*(-|English|Latin|Text)", line):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if current == "terms":
                tables["terms"].append((cells[0], cells[1], [f.strip() for f in cells[2].split(",") if f.strip()]))
            elif current == "names":
                tables["names"].append((cells[0], cells[1]))
            else:
                tables["allowed"].append(cells[0].strip("`"))
    return tables


def _allowed_text() -> set:
    from course_lib.samples import list_samples
    from course_lib.models import MODEL_NAMES, imagenet_categories
    names = set(list_samples()) | set(MODEL_NAMES) | {c.lower() for c in imagenet_categories()}
    return {n.lower() for n in names} | {a.lower() for a in glossary()["allowed"]}


def _english_words(text: str, allowed: set) -> list:
    text = MATH.sub(" ", re.sub(r"\{[^{}]*\}", " ", text))
    if CYRILLIC.search(text) or text.strip().lower() in allowed or re.fullmatch(r"\w+_\w+", text.strip()):
        return []
    return [w for w in WORD.findall(text) if w not in allowed]


def english_in_code(source: str, allowed: set | None = None) -> list:
    """The English a code cell shows: comments, and strings that are text on the screen (several words, or
    one word given as a title, label, description, printed line or option label)."""
    import ast
    import io
    import tokenize
    allowed = _allowed_text() if allowed is None else allowed
    found = []
    python = "\n".join("pass" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())
    for token in tokenize.generate_tokens(io.StringIO(python).readline):
        if token.type == tokenize.COMMENT and len(_english_words(token.string[1:], allowed)) >= 2:
            found.append(token.string)
    tree = ast.parse(python)
    shown = set()

    def texts(node):   # the strings an expression puts on the screen (not those it passes to other calls)
        if isinstance(node, (ast.Constant, ast.JoinedStr)):
            shown.add(id(node))
        elif isinstance(node, (ast.List, ast.Tuple, ast.Set)):
            for item in node.elts:   # an option "label" or the label of a ("label", value) pair
                texts(item.elts[0] if isinstance(item, ast.Tuple) and item.elts else item)
        elif isinstance(node, ast.BinOp):
            texts(node.left), texts(node.right)
        elif isinstance(node, ast.IfExp):
            texts(node.body), texts(node.orelse)
        elif isinstance(node, (ast.ListComp, ast.GeneratorExp)):
            texts(node.elt)

    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", None)
            if name in SHOWN_CALLS:
                for a in node.args:
                    texts(a)
            for k in node.keywords:
                if k.arg in SHOWN_KEYWORDS | SHOWN_LISTS:
                    texts(k.value)
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg == "match":
            skip.update(id(n) for n in ast.walk(node.value))
        if isinstance(node, ast.JoinedStr):
            skip.update(id(v) for v in node.values)
    for node in ast.walk(tree):
        if id(node) in skip or not (isinstance(node, ast.JoinedStr)
                                    or isinstance(node, ast.Constant) and isinstance(node.value, str)):
            continue
        text = node.value if isinstance(node, ast.Constant) else " {} ".join(
            v.value for v in node.values if isinstance(v, ast.Constant))
        words = _english_words(text, allowed)
        several = re.search(r"[A-Za-z]{2,}[^\w{}$]*\s[^\w{}$]*[A-Za-z]{2,}", MATH.sub(" ", text))
        if words and (id(node) in shown or (several and len(words) >= 1)):
            found.append(ast.get_source_segment(python, node) or text)
    return found


def forbidden_terms(text: str, terms=None) -> list:
    """[(forbidden, preferred)] in a Russian text outside code spans, formulas and link targets."""
    terms = glossary()["terms"] if terms is None else terms
    plain = MATH.sub(" ", re.sub(r"`[^`]*`|\]\([^)]*\)|https?://\S+", " ", text))
    found = []
    for english, russian, forbidden in terms:
        for bad in forbidden:
            end = r"(?!\w)" if bad[-1].isalpha() else ""   # "ноутбук 0" also matches "ноутбук 02"
            if re.search(r"(?<![\w.])" + re.escape(bad) + end, plain, re.I):
                found.append((bad, russian))
    return found


def latin_names(text: str, names=None) -> list:
    """[(latin, russian)]: author names the glossary writes in Russian, found in Latin."""
    names = glossary()["names"] if names is None else names
    # code, links, *paper titles* (a title may wrap; bold and list bullets are not italics), «slide titles»
    plain = re.sub(r"^\s*[*-]\s", " ", text.replace("**", ""), flags=re.M)
    plain = re.sub(r"`[^`]*`|\]\([^)]*\)|https?://\S+|\*[^*]+\*|«[^»]*»", " ", plain)
    return [(latin, russian) for latin, russian in names if re.search(r"\b" + re.escape(latin) + r"\b", plain)]


def english_formula_words(text: str) -> list:
    """English words written as \\text{...} inside formulas of a Russian text (\\text{or}, \\text{if})."""
    return [w for f in MATH.findall(text) for w in re.findall(r"\\text\{([^{}]*)\}", f)
            if re.search(r"[a-z]{2,}", w) and not CYRILLIC.search(w)]


DECIMAL_POINT = re.compile(r"(?<![\w.,§])\d+\.\d+(?![\w.])")   # 0.5, not 2.14.1 (a version) or x.5


def decimal_points(text: str) -> list:
    """Numbers written with a decimal point in a Russian text: ``0,5`` in prose, ``0{,}5`` in formulas.

    Code (between backticks or in a fenced block), links and URLs keep the point, as code does.
    """
    plain = re.sub(r"```.*?```|`[^`]*`|\]\([^)]*\)|https?://\S+|<[^>]*>", " ", text, flags=re.S)
    return DECIMAL_POINT.findall(plain)


def lint_notebook(rel: Path, nb=None) -> dict:
    """What the Russian edition of one notebook still shows in English, and the glossary's forbidden terms."""
    nb = nb if nb is not None else russian_notebook(rel)
    allowed, tables = _allowed_text(), glossary()
    report = {"english": [], "terms": [], "names": [], "formulas": [], "decimal": []}
    for cell in nb.cells:
        if cell.cell_type == "code":
            if cell.id == LANG_CELL_ID:
                continue
            report["english"] += [(cell.id, s) for s in english_in_code(cell.source, allowed)]
            comments = " ".join(re.findall(r"#.*", cell.source))
            report["terms"] += [(cell.id, t) for t in forbidden_terms(comments, tables["terms"])]
        else:
            report["terms"] += [(cell.id, t) for t in forbidden_terms(cell.source, tables["terms"])]
            report["names"] += [(cell.id, n) for n in latin_names(cell.source, tables["names"])]
            report["formulas"] += [(cell.id, w) for w in english_formula_words(cell.source)]
            report["decimal"] += [(cell.id, n) for n in decimal_points(cell.source)]
    return report


def lint(names) -> int:
    rels = [notebook_arg(n) for n in names] or sources()
    bad = 0
    for rel in rels:
        report = lint_notebook(rel)
        counts = ", ".join(f"{k} {len(v)}" for k, v in report.items())
        print(f"{rel}: {counts}")
        for kind, items in report.items():
            for cell_id, item in items:
                print(f"  {kind:<9} {cell_id}: {item}")
        bad += any(report.values())
    return 1 if bad else 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("status").add_argument("notebooks", nargs="*")
    sub.add_parser("update").add_argument("notebooks", nargs="*")
    sub.add_parser("todo").add_argument("notebooks", nargs="*")
    sub.add_parser("import").add_argument("file")
    one = sub.add_parser("set")
    one.add_argument("notebook")
    one.add_argument("cell_id")
    one.add_argument("file", nargs="?", default="-")
    one.add_argument("--code", metavar="FRAGMENT", help="replace this string literal/comment of a code cell")
    sub.add_parser("build").add_argument("--check", action="store_true")
    sub.add_parser("lint").add_argument("notebooks", nargs="*")
    args = parser.parse_args(argv)
    if args.command == "status":
        return status(args.notebooks)
    if args.command == "update":
        rels = [notebook_arg(n) for n in args.notebooks] or sources()
        for rel in rels:
            changes = update(rel)
            if changes:
                print(f"{catalogue_path(rel).relative_to(ROOT)}: {changes} entries added or marked stale")
        return 0
    if args.command == "todo":
        return todo(args.notebooks)
    if args.command == "lint":
        return lint(args.notebooks)
    if args.command == "import":
        return import_file(sys.stdin.read() if args.file == "-" else Path(args.file).read_text(encoding="utf-8"))
    if args.command == "set":
        text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text(encoding="utf-8")
        set_translation(notebook_arg(args.notebook), args.cell_id, text.strip("\n"), args.code)
        return 0
    return build(args.check)


if __name__ == "__main__":
    sys.exit(main())
