"""The lecture notebooks in a real browser: JupyterLab + headless Chromium, widgets must respond.

One JupyterLab server (localhost, random token, quick mode) serves ``notebooks/``; Playwright
drives Debian's Chromium (``/usr/bin/chromium``, installed by ``.ci/run``; no browser download).
For each notebook in CHOSEN (both editions, same server): open it, run all cells, require no error output and every
widget rendered; then in the first cell whose output holds both a control and an image,
move the first slider one step (or pick another option of the first dropdown), press the
cell's button if it has one (e.g. "run"), and wait for the cell's output image to change.
Per-notebook choices go in STEPS. Screenshots go to ``test-artifacts/browser/``. The server, the browser and the
page helpers live in ``tests/browser_support.py`` (the benchmarks drive the same widget with them).

Notebook 07's live camera widget has a test of its own (``test_live_style_from_a_fake_camera``): a second
Chromium with the fake camera (``--use-fake-device-for-media-stream --use-fake-ui-for-media-stream``) presses
the camera button and requires styled camera frames and a frame rate in the readout, the camera off after
stop, and, with ``getUserMedia`` refused, the one-line note and the sample photos.
"""
import os
import re
import time
from pathlib import Path

import pytest

from tests.browser_support import (CAMERA_FLAGS, CHROMIUM_FLAGS, JS_PANEL, ROOT, camera_button, chromium, jupyter_lab,
                                   live_widget, missing_browser, open_notebook, readout_numbers, run_all_cells, wait_until)

# Every notebook's code already runs headless (nbval in quick mode, nbconvert in lecture mode: see
# tests/test_standard_tools.py), and every widget cell uses the same LiveOutput; what only a browser shows is
# the front end: widgets rendered, a click answered live. A few notebooks stand for all of them (each costs
# ~40 s of CI time, on one worker): the tour (image picker), 03 (toggle buttons, a LiveOutput redrawn by a
# browser event), 05 (several Output widgets), and the Russian 04 (Russian labels, a button that recomputes).
# COURSE_LIB_BROWSER_ALL=1 opens every notebook of both editions.
CHOSEN = ("00_tour", "03_deconvnet", "05_saliency", "ru/04_class_visualization_deepdream")
ALL = sorted((ROOT / "notebooks").glob("0*.ipynb")) + sorted((ROOT / "notebooks" / "ru").glob("0*.ipynb"))
NOTEBOOKS = [p for p in ALL if os.environ.get("COURSE_LIB_BROWSER_ALL") == "1"
             or str(p.relative_to(ROOT / "notebooks").with_suffix("")) in CHOSEN]
ARTIFACTS = ROOT / "test-artifacts" / "browser"
RESPONSE_TIMEOUT_S = 90     # one widget change -> new output image
MAX_INTERACTIONS = 1        # widget cells tried per notebook (keeps CI time modest)
# Per notebook ("03_deconvnet", "ru/03_deconvnet"), the labels of the widgets to change (in this order)
# instead of the default: the first slider (else dropdown) of the first MAX_INTERACTIONS cells that
# show a control and an image.
STEPS: dict[str, list[str]] = {}
# Never changed by default: another network needs a download (offline: a readable error, no image).
SKIP_LABELS = ("model", "модель")

pytestmark = [
    pytest.mark.skipif(missing_browser() is not None, reason=str(missing_browser())),
    pytest.mark.skipif(not NOTEBOOKS, reason="no notebooks/0*.ipynb yet"),
]

JS_KERNEL_IDLE = f"() => {JS_PANEL}.sessionContext.session.kernel.status === 'idle'"
# Short signature of the loaded images in an output area (data:/blob: URLs change with the image).
JS_IMAGE_SIGNATURE = ("imgs => imgs.filter(i => i.complete && i.naturalWidth > 0)"
                      ".map(i => i.src.length + ':' + i.src.slice(-80)).join('|')")


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab server on localhost over a copy of notebooks/, in quick mode (``tests.browser_support.jupyter_lab``)."""
    with jupyter_lab(tmp_path_factory.mktemp("lab")) as server:
        yield server


@pytest.fixture(scope="module")
def playwright():
    """One Playwright driver for the module: its sync API allows one running instance per process."""
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser_context(tmp_path_factory, playwright):
    """Headless Debian Chromium with a fresh profile, driven by Playwright."""
    with chromium(playwright, tmp_path_factory.mktemp("chromium-profile"), CHROMIUM_FLAGS) as context:
        yield context


def image_signature(cell) -> str:
    return cell.locator(".jp-OutputArea img").evaluate_all(JS_IMAGE_SIGNATURE)


def find_control(cell, label=None):
    """The first slider handle, else the first dropdown, in the cell's output (with that label)."""
    for kind, part in (("slider", ".noUi-handle"), ("dropdown", "select")):
        boxes = cell.locator(f".jp-OutputArea .widget-{kind}")
        if label is not None:
            boxes = boxes.filter(has=cell.page.locator("label", has_text=label))
        for skipped in SKIP_LABELS if label is None else ():
            boxes = boxes.filter(has_not=cell.page.locator("label", has_text=re.compile(rf"^{skipped}$")))
        if boxes.locator(part).count():
            box = boxes.first
            name = box.locator("label").first.inner_text().strip() if box.locator("label").count() else kind
            return kind, name, box.locator(part).first
    raise AssertionError(f"no slider or dropdown labelled {label!r} in this cell")


def change_widget(cell, label=None) -> str:
    """Move a slider one step, or pick another option of a dropdown; says what it did."""
    kind, name, control = find_control(cell, label)
    control.scroll_into_view_if_needed()
    if kind == "slider":
        # towards the minimum (fewer steps, smaller images: cheaper), unless already there
        now, low = control.get_attribute("aria-valuenow"), control.get_attribute("aria-valuemin")
        control.focus()
        control.press("ArrowRight" if now is not None and now == low else "ArrowLeft")
        return f"slider '{name}' moved from {now}"
    current = control.input_value()
    options = [o for o in control.locator("option").all_inner_texts()
               if o != current and not o.startswith("(")]   # "(uploaded file)", "(URL)" need user input
    assert options, f"dropdown '{name}' has no other option to pick"
    control.select_option(label=options[0])
    return f"dropdown '{name}' changed from {current!r} to {options[0]!r}"


def press_run_button(cell) -> str:
    """Cells of long optimisations recompute on a button (e.g. 'run'), not on every change."""
    button = cell.locator(".jp-OutputArea .widget-button").first
    if not button.count():
        return ""
    button.click()
    return f" and pressing '{button.inner_text().strip()}'"


def find_control_or_none(cell, label=None):
    try:
        return find_control(cell, label)
    except AssertionError:
        return None


def cell_with_control(cells, label, name):
    """The first of ``cells`` (index, cell) with a slider or dropdown labelled ``label``."""
    for index, cell in cells:
        if find_control_or_none(cell, label) is not None:
            return index, cell
    raise AssertionError(f"{name}: no cell shows an image and a slider or dropdown labelled {label!r}")


def widget_cells(page):
    """Code cells whose output shows an image together with a slider or a dropdown."""
    cells = page.locator(".jp-Notebook .jp-CodeCell")
    found = []
    for i in range(cells.count()):
        cell = cells.nth(i)
        if cell.locator(".jp-OutputArea img").count() and find_control_or_none(cell) is not None:
            found.append((i, cell))
    return found


def responded(page, cell, before: str) -> bool:
    """The kernel is idle and the cell shows a new loaded image, still so a second later."""
    for _ in range(2):
        if not page.evaluate(JS_KERNEL_IDLE) or image_signature(cell) in ("", before):
            return False
        time.sleep(1)
    return True


def notebook_id(path: Path) -> str:
    """'03_deconvnet' or 'ru/03_deconvnet': the path under notebooks/ without the suffix."""
    return path.relative_to(ROOT / "notebooks").with_suffix("").as_posix()


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=notebook_id)
def test_notebook_runs_and_widgets_respond(lab, browser_context, notebook):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    key = notebook_id(notebook)
    shot = lambda what: ARTIFACTS / f"{key.replace('/', '-')}-{what}.png"  # noqa: E731
    name = f"{key}.ipynb"
    page = browser_context.new_page()
    try:
        open_notebook(page, lab, name)
        state = run_all_cells(page, name)
        page.screenshot(path=shot("run-all"))
        assert not state["errors"], f"{name} failed in the browser: {state['errors']}"

        outputs = page.locator(".jp-OutputArea-output")
        broken = [t for t in outputs.all_inner_texts() if "Error displaying widget" in t]
        assert not broken, f"widgets failed to render in {name}: {broken[:3]}"

        cells = widget_cells(page)
        if key in STEPS:
            steps = [(cell_with_control(cells, label, name), label) for label in STEPS[key]]
        else:
            steps = [(entry, None) for entry in cells[:MAX_INTERACTIONS]]
        assert steps, f"{notebook.name}: no cell shows an image together with a slider or dropdown to move"
        for (index, cell), label in steps:
            cell.scroll_into_view_if_needed()
            before = image_signature(cell)
            cell.screenshot(path=shot(f"cell{index}-before"))
            change = change_widget(cell, label)
            change += press_run_button(cell)
            wait_until(lambda: responded(page, cell, before), RESPONSE_TIMEOUT_S,
                       f"a new output image in code cell {index} of {name} after the {change}")
            cell.screenshot(path=shot(f"cell{index}-after"))
            red = [t for t in cell.locator(".jp-OutputArea-output").all_inner_texts() if "⚠" in t]
            assert not red, f"code cell {index} of {name} showed an error after the {change}: {red}"
            image_count = cell.locator(".jp-OutputArea img").count()
            assert image_count, f"code cell {index} lost its image after the {change}"
    except Exception:
        page.screenshot(path=shot("failure"))
        raise
    finally:
        page.close()
        lab.shutdown_kernels()


# ---- notebook 07's live widget with Chromium's fake camera --------------------------------------------

@pytest.fixture(scope="module")
def camera_browser_context(tmp_path_factory, playwright):
    """A second Chromium whose camera is the fake device (moving test pattern), granted without a prompt."""
    with chromium(playwright, tmp_path_factory.mktemp("chromium-camera-profile"), CHROMIUM_FLAGS + CAMERA_FLAGS) as context:
        yield context


def test_live_style_from_a_fake_camera(lab, camera_browser_context):
    """Frames of the fake camera reach the kernel, styled frames come back, the readout shows the frame rate."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page = camera_browser_context.new_page()
    try:
        widget, cell = live_widget(page, lab)
        assert readout_numbers(widget) is None, "nothing may stream before the camera button is pressed"
        camera_button(cell).click()

        wait_until(lambda: (readout_numbers(widget) or (0, 0, 0))[2] >= 5, 90, "five styled camera frames")
        fps, network_ms, frames, width, height = readout_numbers(widget)
        page.screenshot(path=ARTIFACTS / "07-live-camera.png")
        print(f"live camera in headless Chromium: {fps} frames/s, network {network_ms} ms, {frames} frames")
        assert fps > 0 and network_ms > 0 and (width, height) == (320, 240)
        assert widget.locator("video").evaluate("v => v.videoWidth > 0 && !v.paused"), "the fake camera must play"
        assert widget.locator(".course-live-note").inner_text() == "", "with a camera there is no fallback note"
        assert widget.locator("img.course-live-styled").evaluate("i => i.complete && i.naturalWidth") == 320

        camera_button(cell).click()              # stop: the frames stop coming
        time.sleep(2)
        stopped_at = readout_numbers(widget)[2]
        time.sleep(2)
        assert readout_numbers(widget)[2] == stopped_at, "frames kept coming after the camera was stopped"
        assert widget.locator("video").evaluate("v => v.srcObject.getTracks().every(t => t.readyState === 'ended')"), \
            "the camera must be switched off when stopped"

        # the browser refuses the camera: one line says so, and the sample photos are styled instead
        page.evaluate("() => { navigator.mediaDevices.getUserMedia = () => "
                      "Promise.reject(new DOMException('refused in the test', 'NotAllowedError')); }")
        camera_button(cell).click()
        wait_until(lambda: "NotAllowedError" in widget.locator(".course-live-note").inner_text(), 30, "the no-camera note")
        assert widget.locator(".course-live-note").inner_text().startswith("No camera")
        wait_until(lambda: (readout_numbers(widget, "sample photo") or (0, 0, 0))[2] >= stopped_at + 2, 30,
                   "two styled sample photos")
        photo = widget.locator(".course-live-pictures img").first
        assert photo.evaluate("i => i.complete && i.naturalWidth") == 320, "the sample photo is shown beside its styled copy"
        camera_button(cell).click()
    except Exception:
        page.screenshot(path=ARTIFACTS / "07-live-camera-failure.png")
        raise
    finally:
        page.close()
        lab.shutdown_kernels()
