"""JupyterLab + headless Chromium, shared by tests/test_browser.py and the benchmarks (never by tools/ or course_lib).

``jupyter_lab(home)`` starts one JupyterLab server on localhost (random token, quick mode) over a copy of
``notebooks/``; ``chromium(playwright, profile, flags)`` opens Debian's Chromium (``/usr/bin/chromium``, no browser
download) with a fresh profile; ``open_notebook`` and ``run_all_cells`` drive a page through JupyterLab's own
commands. Notebook 07's live camera widget: ``live_widget`` (the widget and its cell, after running the notebook),
``readout_numbers`` (the numbers its readout shows). ``missing_browser()`` says why a browser run cannot happen here.
Only the standard library is imported at the top: Playwright is imported by whoever drives a page.
"""
import contextlib
import importlib.util
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
CAMERA_FLAGS = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]  # a test pattern, no prompt
RUN_ALL_TIMEOUT_S = 240     # quick mode: nbval needs well under 60 s per notebook
LAB_START_TIMEOUT_S = 90

# JupyterLab settings: never save (the committed notebooks stay without outputs, and others'
# edits are not overwritten), no news toast, every cell in the DOM.
LAB_SETTINGS = {
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}

# In the page: the current notebook panel (JupyterLab started with expose_app_in_browser).
JS_PANEL = "window.jupyterapp.shell.currentWidget"
JS_READY = f"""() => {{
  const nb = window.jupyterapp && {JS_PANEL};
  return !!(nb && nb.content && nb.sessionContext && nb.sessionContext.session
            && nb.sessionContext.session.kernel && nb.sessionContext.session.kernel.status === 'idle');
}}"""
# Done when every code cell has an execution count and the kernel is idle, or a cell failed
# (JupyterLab stops a run at the first error unless the cell is tagged raises-exception).
JS_RUN_STATE = f"""() => {{
  const nb = {JS_PANEL};
  const cells = nb.content.widgets.filter(c => c.model.type === 'code');
  const errors = [];
  cells.forEach((c, i) => {{
    const tags = c.model.getMetadata ? (c.model.getMetadata('tags') || []) : [];
    for (const o of c.model.outputs.toJSON())
      if (o.output_type === 'error' && !tags.includes('raises-exception'))
        errors.push(`code cell ${{i}}: ${{o.ename}}: ${{o.evalue}}`);
  }});
  const executed = cells.every(c => c.model.executionCount !== null);
  const idle = nb.sessionContext.session.kernel.status === 'idle';
  return {{done: errors.length > 0 || (executed && idle), errors,
           executed: cells.filter(c => c.model.executionCount !== null).length, total: cells.length}};
}}"""


def missing_browser() -> str | None:
    """Why no browser can be driven here (Chromium or Playwright absent), or None."""
    if not CHROMIUM.exists():
        return (f"{CHROMIUM} is absent: install Debian's chromium package (apt-get install chromium, "
                "as .ci/run does) to run the browser tests")
    if importlib.util.find_spec("playwright") is None:
        return "playwright is not installed: pip install -e '.[test]' (Chromium itself comes from Debian)"
    return None


@dataclass
class Lab:
    url: str
    token: str
    pid: int        # the server's; the kernels are its children

    def api(self, method, path):
        request = urllib.request.Request(f"{self.url}{path}", method=method,
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
        return json.loads(body) if body else None

    def shutdown_kernels(self):
        for session in self.api("GET", "/api/sessions"):
            self.api("DELETE", f"/api/sessions/{session['id']}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def jupyter_lab(home: Path):
    """A JupyterLab server on localhost over a copy of notebooks/ in ``home``, in quick mode, with a random token.

    A copy, so that nothing the browser runs or saves can write outputs into the committed notebooks.
    Raises RuntimeError with the end of the server's log when it does not answer within LAB_START_TIMEOUT_S.
    """
    shutil.copytree(ROOT / "notebooks", home / "notebooks")
    for name, value in LAB_SETTINGS.items():
        path = home / "settings" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(value))
    env = {k: v for k, v in os.environ.items() if k not in ("MPLBACKEND", "JUPYTER_CONFIG_DIR")}
    env.update(COURSE_LIB_QUICK="1", COURSE_LIB_TESTING="1", JUPYTER_RUNTIME_DIR=str(home / "runtime"),
               JUPYTER_CONFIG_DIR=str(home / "config"), PYTHONUNBUFFERED="1")
    port, token = free_port(), secrets.token_hex(16)
    with open(home / "jupyter.log", "w") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", "--ip=127.0.0.1", f"--port={port}",
             f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={home / 'notebooks'}",
             "--LabApp.expose_app_in_browser=True", f"--LabApp.user_settings_dir={home / 'settings'}",
             f"--LabApp.workspaces_dir={home / 'workspaces'}"],
            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        lab = Lab(f"http://127.0.0.1:{port}", token, server.pid)
        try:
            deadline = time.monotonic() + LAB_START_TIMEOUT_S
            while True:
                try:
                    lab.api("GET", "/api/status")
                    break
                except OSError:
                    if server.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(f"JupyterLab did not start:\n{(home / 'jupyter.log').read_text()[-3000:]}")
                    time.sleep(0.5)
            yield lab
        finally:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


@contextlib.contextmanager
def chromium(playwright, profile, flags):
    """A persistent headless Chromium context with a fresh profile (``profile``: an empty folder), closed after use."""
    context = playwright.chromium.launch_persistent_context(
        str(profile), executable_path=str(CHROMIUM), headless=True, args=flags, viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(30_000)
    try:
        yield context
    finally:
        context.close()


def open_notebook(page, lab: Lab, name: str):
    """Open notebooks/``name`` (relative path) in JupyterLab and wait for its kernel to be idle."""
    page.goto(f"{lab.url}/lab/tree/{name}?reset&token={lab.token}")
    page.wait_for_function(JS_READY, timeout=120_000)


def run_all_cells(page, name) -> dict:
    """Run all cells from the JupyterLab command; returns the final JS_RUN_STATE."""
    page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
    deadline = time.monotonic() + RUN_ALL_TIMEOUT_S
    while not (state := page.evaluate(JS_RUN_STATE))["done"]:
        if time.monotonic() > deadline:
            raise AssertionError(f"{name} did not finish in {RUN_ALL_TIMEOUT_S} s in the browser: "
                                 f"{state['executed']} of {state['total']} code cells ran")
        time.sleep(0.5)
    return state


def wait_until(predicate, timeout_s, what):
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.25)


# ---- notebook 07's live camera widget --------------------------------------------------------------------

LIVE_NOTEBOOK = "07_fast_style_transfer.ipynb"
READOUT = re.compile(r"(\d+(?:\.\d+)?) frames/s · network (\d+) ms · (camera frame|sample photo) (\d+) \((\d+)×(\d+)\)")


def live_widget(page, lab: Lab):
    """Open notebook 07, run all its cells; returns (the live widget, its cell), scrolled into view."""
    open_notebook(page, lab, LIVE_NOTEBOOK)
    state = run_all_cells(page, LIVE_NOTEBOOK)
    assert not state["errors"], f"{LIVE_NOTEBOOK} failed in the browser: {state['errors']}"
    widget = page.locator(".course-live-style").first
    widget.scroll_into_view_if_needed()
    return widget, page.locator(".jp-CodeCell", has=widget)


def camera_button(cell):
    """The widget's start/stop toggle ("camera")."""
    return cell.locator(".widget-toggle-button").first


def readout_numbers(widget, source="camera frame"):
    """(frames per second, network ms, frames styled, width, height) from the readout, or None.

    ``source``: "camera frame" (the browser sent a camera frame) or "sample photo" (no camera: the kernel's photos).
    """
    match = READOUT.search(widget.locator(".course-live-readout").inner_text())
    if match is None or match[3] != source:
        return None
    return float(match[1]), int(match[2]), int(match[4]), int(match[5]), int(match[6])
