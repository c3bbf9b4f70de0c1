"""``LiveOutput``: the Output widget of every lecture notebook, safe to run headless.

An ``ipywidgets.Output`` used as ``with out: ...`` asks the *front end* to capture what the
block displays, and the front end echoes the captured outputs back to the kernel. A browser
does that harmlessly; a headless runner (``jupyter nbconvert --execute``, papermill, nbval) has
to imitate it, and nbclient's imitation can lose the wake-up for the cell's reply and sit until
the cell's timeout (see ``course_lib.notebook_runner``).

``LiveOutput`` behaves like ``Output`` with one difference: while a cell itself is running
(the callback called at the end of a widget cell, or a widget changed by code in a cell), the
*kernel* records what the block displays and sets the widget's ``outputs`` directly, as
``Output.append_display_data`` does. Nothing then goes through the front end, so every runner
sees the first picture without a round trip. A callback started by the user in the browser (a
slider moved, a button clicked) uses the front end's capture as usual, so progress bars and
live images still update while it runs.

Errors: like ``Output``, a traceback raised in the block is shown inside the widget and the cell
goes on; under test (``COURSE_LIB_TESTING=1``) it is shown and re-raised, so a broken callback
fails its cell instead of hiding in a widget.
"""
import io
import sys
import traceback

import ipywidgets as widgets
from IPython import get_ipython
from IPython.core.displaypub import DisplayPublisher

from .config import testing


def _in_cell_run() -> bool:
    """True in an IPython shell unless a widget message from the front end is being handled now."""
    shell = get_ipython()
    if shell is None:                        # plain Python: ``Output`` does nothing special either
        return False
    kernel = getattr(shell, "kernel", None)
    if kernel is None:                       # a plain IPython shell: no front end at all
        return True
    parent = kernel.get_parent("shell") if hasattr(kernel, "get_parent") else kernel._parent_header
    return (parent or {}).get("header", {}).get("msg_type") != "comm_msg"


class _Recorder(DisplayPublisher):
    """Collects display data and printed text in order, as the front end's capture would."""

    def __init__(self):
        super().__init__()
        self.outputs, self.cleared = [], False

    def publish(self, data, metadata=None, source=None, *, transient=None, update=False, **kwargs):
        self.outputs.append({"output_type": "display_data", "data": data, "metadata": metadata or {}})

    def clear_output(self, wait=False):
        self.outputs.clear()
        self.cleared = True

    def write(self, name: str, text: str):
        last = self.outputs[-1] if self.outputs else None
        if last and last["output_type"] == "stream" and last["name"] == name:
            last["text"] += text
        else:
            self.outputs.append({"output_type": "stream", "name": name, "text": text})


class _Stream(io.TextIOBase):
    def __init__(self, recorder: _Recorder, name: str):
        self.recorder, self.name = recorder, name

    def write(self, text):
        self.recorder.write(self.name, text)
        return len(text)


class LiveOutput(widgets.Output):
    """``ipywidgets.Output`` whose contents the kernel sets itself during a cell's own run."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._recording = None           # (recorder, saved display_pub, stdout, stderr) while recording
        self._depth = 0

    def __enter__(self):
        if self._recording is None and not _in_cell_run():
            return super().__enter__()   # the browser captures, live
        if self._recording is None:
            shell, recorder = get_ipython(), _Recorder()
            self._recording = (recorder, shell.display_pub, sys.stdout, sys.stderr)
            shell.display_pub = recorder
            sys.stdout, sys.stderr = _Stream(recorder, "stdout"), _Stream(recorder, "stderr")
        self._depth += 1
        return self

    def __exit__(self, etype, evalue, tb):
        if self._recording is None:
            if etype is not None and testing():
                super().__exit__(etype, evalue, tb)
                return False             # shown in the widget, and the test sees it
            return super().__exit__(etype, evalue, tb)
        recorder = self._recording[0]
        if etype is not None:
            recorder.outputs.append({"output_type": "error", "ename": etype.__name__, "evalue": str(evalue),
                                     "traceback": traceback.format_exception(etype, evalue, tb)})
        self._depth -= 1
        if self._depth == 0:
            self._stop(recorder)
        return etype is not None and not testing()

    def _stop(self, recorder: _Recorder):
        _, display_pub, sys.stdout, sys.stderr = self._recording
        get_ipython().display_pub = display_pub
        self._recording = None
        kept = () if recorder.cleared else self.outputs
        self.outputs = tuple(kept) + tuple(recorder.outputs)

    def clear_output(self, *args, **kwargs):
        if self._recording is None and _in_cell_run():
            self.outputs = ()
        else:
            super().clear_output(*args, **kwargs)
