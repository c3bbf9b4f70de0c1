"""Execute every lecture notebook in lecture mode and write an HTML gallery.

    ./run.sh gallery                      # all notebooks/0*.ipynb -> build/gallery/
    python tools/gallery.py --quick notebooks/01_filters.ipynb --out /tmp/g

Each notebook runs top to bottom in a fresh kernel (nbclient, widget state stored) and is
written to ``build/gallery/`` as ``NAME.ipynb`` (with outputs and widget state) and
``NAME.html``. In the HTML every widget is replaced by a static fallback built from its
stored state: sliders and dropdowns show their value, Output widgets their captured
images, so the page works offline without any JavaScript. ``index.html`` shows a
thumbnail per notebook (its largest output image). Prints progress per notebook and the
total time; exits with status 1 if a notebook failed (its page shows where).

Notebooks run through ``course_lib.notebook_runner`` (the one headless runner): a cell may run
``--timeout`` seconds (default 10 minutes: no lecture cell needs more than two on a quiet 2-core
machine, but a shared one can be five times slower); a cell that runs longer, or after which the
client waited on a kernel that had finished ("stalled"), fails its notebook with a message naming
the notebook and the cell. Every code cell's wall time, the kernel's CPU time over it and the
time the kernel itself took are written to ``timings.json``.
"""
import argparse
import base64
import copy
import html
import io
import json
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path

import nbformat
from nbconvert import HTMLExporter
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))   # run as a script from anywhere: this checkout's course_lib first

from course_lib.notebook_runner import CELL_TIMEOUT_S, CellTime, run_notebook  # noqa: E402
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
THUMB_SIZE = (360, 240)


# ---- running: course_lib.notebook_runner, the one headless runner ------------------------

def execute(path: Path, quick: bool, timeout: int, log: Path):
    """``(nb, error, cell_times)``: the notebook executed in a fresh kernel (cwd = its folder).

    ``error`` is None or one line naming the notebook and the cell (failed, timed out or
    stalled). The kernel's own stderr (start-up warnings, crashes below Python) goes to ``log``.
    """
    run = run_notebook(path, quick=quick, timeout=timeout, store_widget_state=True, kernel_log=log, check=False)
    return run.nb, run.error, run.cells


# ---- static widget fallbacks -----------------------------------------------------------

def widget_models(nb) -> dict:
    return nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})


def image_data_uri(model: dict) -> str | None:
    """An Image widget's picture as a data: URI (its bytes are stored base64 in 'buffers')."""
    for buffer in model.get("buffers", []):
        if buffer.get("path") == ["value"]:
            fmt = model["state"].get("format", "png")
            return f"data:image/{fmt};base64,{buffer['data']}"
    return None


def render_widget(model_id: str, models: dict) -> str:
    """Static HTML for one widget model, recursing into boxes and Output widgets."""
    model = models.get(model_id)
    if model is None:                        # closed widgets (e.g. finished progress bars)
        return ""
    name, state = model["model_name"], model["state"]
    if state.get("layout") and _hidden(models.get(state["layout"].removeprefix("IPY_MODEL_"))):
        return ""
    label = html.escape(str(state.get("description", "")))
    label_html = f"<label>{label}</label> " if label else ""
    children = [render_widget(c.removeprefix("IPY_MODEL_"), models) for c in state.get("children", [])]
    if name == "OutputModel":
        return "".join(render_output(o, models) for o in state.get("outputs", []))
    if name in ("HBoxModel", "GridBoxModel"):
        return f'<div class="w-row">{"".join(children)}</div>'
    if name in ("VBoxModel", "BoxModel", "AccordionModel", "TabModel", "StackModel"):
        return f'<div class="w-col">{"".join(children)}</div>'
    if "_options_labels" in state:           # Dropdown, Select, RadioButtons, SelectionSlider, ...
        labels, index = state.get("_options_labels", []), state.get("index")
        options = "".join(f"<option{' selected' if i == index else ''}>{html.escape(str(o))}</option>"
                          for i, o in enumerate(labels))
        return f'<span class="w-ctl">{label_html}<select disabled>{options}</select></span>'
    if name.endswith("SliderModel"):
        value = state.get("value")
        low = value[0] if isinstance(value, list) else value          # range sliders: [low, high]
        shown = "–".join(f"{v:g}" for v in value) if isinstance(value, list) else f"{value:g}"
        return (f'<span class="w-ctl">{label_html}<input type="range" disabled min="{state.get("min", 0)}" '
                f'max="{state.get("max", 100)}" step="{state.get("step", 1)}" value="{low}"> <output>{shown}</output></span>')
    if name.endswith("ProgressModel"):
        return (f'<span class="w-ctl">{label_html}<progress max="{state.get("max", 100)}" '
                f'value="{state.get("value", 0)}"></progress></span>')
    if name == "ImageModel":
        uri = image_data_uri(model)
        return f'<img src="{uri}">' if uri else ""
    if name in ("HTMLModel", "HTMLMathModel"):
        return f'<span class="w-ctl">{label_html}{state.get("value", "")}</span>'
    if name == "LabelModel":
        return f'<span class="w-ctl">{html.escape(str(state.get("value", "")))}</span>'
    if name in ("CheckboxModel", "ToggleButtonModel"):
        return f'<span class="w-ctl"><input type="checkbox" disabled{" checked" if state.get("value") else ""}> {label}</span>'
    if name in ("ButtonModel", "FileUploadModel"):
        return f'<span class="w-ctl"><button disabled>{label or "button"}</button></span>'
    if "value" in state:                     # Text, IntText, FloatText, Textarea, ...
        return f'<span class="w-ctl">{label_html}<input disabled value="{html.escape(str(state["value"]))}"></span>'
    return f'<span class="w-ctl">[{html.escape(name)}]</span>'


def _hidden(layout) -> bool:
    state = (layout or {}).get("state", {})
    return state.get("display") == "none" or state.get("visibility") == "hidden"


def render_output(output: dict, models: dict) -> str:
    data = output.get("data", {})
    if WIDGET_VIEW in data:
        return render_widget(data[WIDGET_VIEW]["model_id"], models)
    if "image/png" in data:
        return f'<img src="data:image/png;base64,{data["image/png"]}">'
    if "text/html" in data:
        return "".join(data["text/html"])
    if output.get("output_type") == "stream":
        return f"<pre>{html.escape(''.join(output.get('text', '')))}</pre>"
    if "text/plain" in data:
        return f"<pre>{html.escape(''.join(data['text/plain']))}</pre>"
    return ""


def with_static_widgets(nb):
    """A copy of ``nb`` whose widget outputs are plain HTML and without widget state."""
    models = widget_models(nb)
    static = copy.deepcopy(nb)
    static.metadata.pop("widgets", None)
    for cell in static.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if WIDGET_VIEW in data:
                fallback = render_widget(data[WIDGET_VIEW]["model_id"], models)
                output["data"] = {"text/html": f'<div class="widget-static">{fallback}</div>'}
    return static


STATIC_CSS = """<style>
.widget-static .w-row{display:flex;flex-wrap:wrap;gap:8px;align-items:center}
.widget-static .w-col{display:flex;flex-direction:column;align-items:flex-start;gap:4px}
.widget-static .w-ctl{display:inline-flex;gap:6px;align-items:center;font:13px sans-serif}
.widget-static img{max-width:100%}
</style>"""


# ---- images and pages ------------------------------------------------------------------

def output_images(nb):
    """Every PNG the notebook shows, including those inside widgets, as PIL images."""
    models = widget_models(nb)
    found = []

    def visit(output):
        data = output.get("data", {})
        if "image/png" in data:
            found.append(data["image/png"])
        elif WIDGET_VIEW in data:
            visit_model(data[WIDGET_VIEW]["model_id"])

    def visit_model(model_id):
        model = models.get(model_id)
        if model is None:
            return
        for output in model["state"].get("outputs", []):
            visit(output)
        for child in model["state"].get("children", []):
            visit_model(child.removeprefix("IPY_MODEL_"))
        uri = image_data_uri(model) if model["model_name"] == "ImageModel" else None
        if uri:
            found.append(uri.split(",", 1)[1])

    for cell in nb.cells:
        for output in cell.get("outputs", []):
            visit(output)
    return [Image.open(io.BytesIO(base64.b64decode(b))).convert("RGB") for b in found]


def thumbnail(nb) -> Image.Image | None:
    """The largest image the notebook shows, shrunk to fit THUMB_SIZE."""
    images = output_images(nb)
    if not images:
        return None
    biggest = max(images, key=lambda im: im.width * im.height)
    biggest.thumbnail(THUMB_SIZE)
    return biggest


def title_of(nb, fallback: str) -> str:
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("#"):
                    return line.lstrip("#").strip()
    return fallback


def write_notebook_page(nb, out: Path, stem: str) -> None:
    nbformat.write(nb, out / f"{stem}.ipynb")
    body, _ = HTMLExporter(template_name="lab").from_notebook_node(with_static_widgets(nb))
    (out / f"{stem}.html").write_text(body.replace("</head>", STATIC_CSS + "</head>", 1), encoding="utf-8")


def write_index(entries: list, out: Path, quick: bool) -> None:
    cards = []
    for e in entries:
        thumb = f'<img src="thumbs/{e["stem"]}.png">' if e["thumb"] else '<div class="none">no image</div>'
        status = (f'<p class="fail">failed: {html.escape(e["error"])}</p>' if e["error"]
                  else f"<p>{e['seconds']:.0f} s, images: {e['images']}</p>")
        cards.append(f'<a class="card" href="{e["stem"]}.html">{thumb}<h2>{html.escape(e["title"])}</h2>'
                     f'<p class="name">{e["stem"]}.ipynb</p>{status}</a>')
    mode = "quick mode" if quick else "lecture mode"
    (out / "index.html").write_text(f"""<!doctype html><meta charset="utf-8"><title>nn-art gallery</title>
<style>body{{font:15px sans-serif;margin:2em}}.grid{{display:grid;grid-template-columns:repeat(auto-fill,380px);gap:16px}}
.card{{border:1px solid #ccc;border-radius:8px;padding:10px;color:inherit;text-decoration:none}}
.card img,.none{{width:360px;height:240px;object-fit:contain;background:#f4f4f4}}.none{{line-height:240px;text-align:center;color:#888}}
h2{{font-size:16px;margin:8px 0 2px}}.name{{color:#666;margin:0}}.fail{{color:#b00020}}</style>
<h1>Neural networks for art: notebook gallery</h1><p>Every notebook executed in {mode}.</p>
<div class="grid">{"".join(cards)}</div>""", encoding="utf-8")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: the lecture notebooks of --edition")
    parser.add_argument("--edition", choices=["en", "ru", "both"], default="en",
                        help="English notebooks/0*, Russian notebooks/ru/0* (pages named ru_*), or both")
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "gallery")
    parser.add_argument("--quick", action="store_true", help="run in quick mode (COURSE_LIB_QUICK=1)")
    parser.add_argument("--timeout", type=int, default=CELL_TIMEOUT_S,
                        help=f"seconds allowed per cell (default {CELL_TIMEOUT_S})")
    args = parser.parse_args(argv)
    folders = {"en": ["notebooks"], "ru": ["notebooks/ru"], "both": ["notebooks", "notebooks/ru"]}[args.edition]
    notebooks = args.notebooks or [p for f in folders for p in sorted((ROOT / f).glob("0*.ipynb"))]
    for folder in ("thumbs", "logs"):
        (args.out / folder).mkdir(parents=True, exist_ok=True)
    entries, timings, start = [], {}, time.perf_counter()
    for i, path in enumerate(notebooks, 1):
        stem = ("ru_" if path.parent.name == "ru" else "") + path.stem    # one folder for both editions
        print(f"[{i}/{len(notebooks)}] {stem} ...", end=" ", flush=True)
        t0 = time.perf_counter()
        nb, error, cells = execute(path, args.quick, args.timeout, args.out / "logs" / f"{stem}.log")
        seconds = time.perf_counter() - t0
        write_notebook_page(nb, args.out, stem)
        thumb = thumbnail(nb)
        if thumb is not None:
            thumb.save(args.out / "thumbs" / f"{stem}.png")
        entries.append({"stem": stem, "title": title_of(nb, stem), "error": error,
                        "seconds": seconds, "images": len(output_images(nb)), "thumb": thumb is not None})
        timings[f"{stem}.ipynb"] = {"seconds": seconds, "error": error, "cells": [asdict(c) for c in cells]}
        print(f"FAILED after {seconds:.1f} s: {error}" if error else f"{seconds:.1f} s{_slowest(cells)}", flush=True)
        for c in cells:
            if c.idle():
                print(f"    cell {c.index}: {c.wall_s:.1f} s wall but {c.cpu_s:.1f} s CPU (idle?)", flush=True)
        write_index(entries, args.out, args.quick)         # after each notebook: usable if stopped
        (args.out / "timings.json").write_text(json.dumps(timings, indent=1))
    write_index(entries, args.out, args.quick)
    failed = [e["stem"] for e in entries if e["error"]]
    print(f"{len(notebooks)} notebooks in {time.perf_counter() - start:.1f} s -> {args.out / 'index.html'}"
          + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


def problems(timings: dict) -> list[str]:
    """What is wrong in a ``timings.json``: failed, timed-out or stalled notebooks, idle cells."""
    found = [f"{name}: {t['error']}" for name, t in timings.items() if t["error"]]
    for name, t in timings.items():
        for c in map(lambda c: CellTime(**c), t["cells"]):
            if c.idle():
                found.append(f"{name} cell {c.index}: {c.wall_s:.0f} s wall but only {c.cpu_s:.0f} s CPU")
    return found


def _slowest(cells) -> str:
    """Kernel CPU time of all cells (steadier than wall time on a busy machine) and the slowest cell."""
    if not cells:
        return ""
    c = max(cells, key=lambda c: c.wall_s)
    cpu = f", {c.cpu_s:.1f} s CPU" if c.cpu_s is not None else ""
    total = (f"kernel CPU {sum(c.cpu_s for c in cells):.0f} s; "
             if all(c.cpu_s is not None for c in cells) else "")
    return f" ({total}slowest: cell {c.index}, {c.wall_s:.1f} s wall{cpu})"


if __name__ == "__main__":
    sys.exit(main())
