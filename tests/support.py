"""Test support shared by tests/ and benchmarks/ (never by tools/ or course_lib).

Loopback HTTP servers that play the internet on 127.0.0.1 (``loopback_server``, ``QuietHandler``,
``UNREACHABLE``), so no test ever reaches a real host; ``write_notebook`` for a notebook of a few cells.

A torch hub cache with *random* weights under torchvision's file names, for offline tests and timing:

    python tests/support.py /tmp/fake-torch alexnet vgg16    # then TORCH_HOME=/tmp/fake-torch ...

``load_model("vgg16")`` then loads (random) weights without a network, so the notebooks take the
path they take on a machine that ran ``./run.sh fetch``. The tensors are float32 like the real
files, so memory measured with them is what the real weights cost. It refuses to write into
the real cache (``~/.cache/torch``): random weights there would replace the real ones silently.
"""
import contextlib
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import nbformat
import pytest
import torch
import torchvision

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from course_lib.assets import TORCHVISION, cached_weights_path  # noqa: E402
from course_lib.models import load_model  # noqa: E402

# ---- loopback HTTP servers ------------------------------------------------------------------------

UNREACHABLE = "http://127.0.0.1:9"   # the discard port, where nothing listens: every request is refused at once


class QuietHandler(BaseHTTPRequestHandler):
    """A request handler that logs nothing (pytest's output stays readable); subclasses write ``do_GET``."""

    def log_message(self, *args):
        pass


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass                  # a client that hangs up early (the downloaders do, on purpose) is fine


@contextlib.contextmanager
def loopback_server(handler):
    """Serve the request handler class ``handler`` on 127.0.0.1 at a free port; yields the base URL."""
    httpd = _QuietServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def write_notebook(path, *sources, heading: str = None) -> Path:
    """A notebook (python3 kernel) of the code cells ``sources``, after a markdown ``heading`` if one is given."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_markdown_cell(heading)] if heading else []
    nb.cells += [nbformat.v4.new_code_cell(source) for source in sources]
    nbformat.write(nb, path)
    return Path(path)


# ---- a torch hub cache with random weights ---------------------------------------------------------

def write_random_weights(torch_home, names, seed: int = 0) -> list:
    """Write random state dicts for ``names`` into ``torch_home/hub/checkpoints``; returns the paths."""
    torch_home = Path(torch_home).resolve()
    if torch_home == (Path.home() / ".cache" / "torch").resolve():
        raise ValueError(f"refusing to write random weights into the real torch cache {torch_home}")
    previous = os.environ.get("TORCH_HOME")
    os.environ["TORCH_HOME"] = str(torch_home)
    try:
        paths = []
        for name in names:
            if name not in TORCHVISION:
                raise ValueError(f"{name} is not a torchvision net: {', '.join(TORCHVISION)}")
            path = Path(cached_weights_path(name))
            if not path.exists():
                torch.manual_seed(seed)
                # GoogLeNet's real file also holds the auxiliary classifiers that torchvision drops after loading
                net = (torchvision.models.googlenet(weights=None, aux_logits=True, init_weights=True) if name == "googlenet"
                       else load_model(name, device="cpu", pretrained=False).net)
                path.parent.mkdir(parents=True, exist_ok=True)
                torch.save(net.state_dict(), path)
                del net
            paths.append(path)
        return paths
    finally:
        if previous is None:
            os.environ.pop("TORCH_HOME", None)
        else:
            os.environ["TORCH_HOME"] = previous


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__.split("\n\n")[1])
    for p in write_random_weights(sys.argv[1], sys.argv[2:]):
        print(p)


@pytest.fixture(scope="module")
def one_thread():
    """One torch thread for a module of optimisation tests: on a shared 2-core machine two threads wait on each other
    (10x slower). Use it with ``pytestmark = pytest.mark.usefixtures("one_thread")`` after importing it."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
