"""Run a notebook headless in a fresh kernel: the one runner of tests, gallery, benchmarks and tools.

    python -m course_lib.notebook_runner notebooks/04_class_visualization_deepdream.ipynb [--quick]

A rehearsal of a lecture notebook without a browser. Every headless run in this repository goes
through ``run_notebook``, so each one gets the same three guards:

* **No silent wait on a finished kernel.** nbclient waits for a cell's reply with one long poll
  of a zmq socket. A zmq socket's file descriptor is edge-triggered: when the client sends
  something on the shell socket just as the reply arrives (nbclient's stand-in for an Output
  widget does: it echoes every captured output back to the kernel), the send can consume the
  wake-up, and the poll sleeps until the cell's timeout although the reply is there. Here the
  widget stand-in sends through the asyncio socket (which re-checks for pending messages), and
  every wait is cut into short polls, each of which looks at the socket afresh: a lost wake-up
  costs at most ``POLL_SLICE_S``.
* **Stalls fail, naming the cell.** A cell whose client wall time exceeds the kernel's own time
  by more than ``STALL_S`` is an error ("stalled"), not a slow pass.
* **Errors name the notebook and the cell**: ``NotebookRunError("04_x.ipynb cell 9: ValueError: …")``.

The notebooks themselves do not need this runner: their Output widgets (``course_lib.display.
LiveOutput``) are filled by the kernel during the cell's own run, so ``jupyter nbconvert --execute``
and papermill never echo a widget output either.
"""
import argparse
import asyncio
import os
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from queue import Empty

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
from nbclient.jsonutil import json_clean
from nbclient.output_widget import OutputWidget as _NbclientOutputWidget

ROOT = Path(__file__).resolve().parents[1]
CELL_TIMEOUT_S = 600     # per cell: 5x the slowest lecture cell on a quiet 2-core machine
STALL_S = 10.0           # client wall time beyond the kernel's own time that counts as a stall
POLL_SLICE_S = 0.5       # the longest single poll of a kernel socket


class NotebookRunError(RuntimeError):
    """A notebook failed headless; the message names the notebook and the cell."""


@dataclass
class CellTime:
    index: int                 # position in the notebook (markdown cells counted), as Jupyter shows
    wall_s: float              # seen by the client: request sent to reply and outputs received
    cpu_s: float | None        # the kernel process's CPU time (all threads) over the cell
    kernel_s: float | None     # the kernel's own time, from its execute_input to its execute_reply

    def problem(self) -> str | None:
        """Why this cell's timing is wrong, or None: a client that waited on a finished kernel."""
        if self.kernel_s is not None and self.wall_s - self.kernel_s > STALL_S:
            return (f"stalled: the kernel finished in {self.kernel_s:.1f} s but the client waited "
                    f"{self.wall_s:.1f} s")
        return None

    def idle(self, ratio: float = 5.0, grace_s: float = 120.0) -> bool:
        """Wall time far above CPU time: the kernel sat idle (waiting on something) in this cell.

        Generous: on a loaded 2-core machine busy cells were seen at wall = 4.7 x CPU.
        """
        return self.cpu_s is not None and self.wall_s > ratio * self.cpu_s + grace_s


@dataclass
class NotebookRun:
    nb: nbformat.NotebookNode          # the executed notebook, outputs (and widget state) included
    cells: list[CellTime] = field(default_factory=list)
    peak_rss_mb: float | None = None   # the kernel process's peak resident memory (Linux)
    seconds: float = 0.0               # wall time of the cells, kernel start-up excluded
    error: str | None = None           # None, or one line naming the notebook and the cell

    def text(self) -> str:
        """Everything the code cells printed, concatenated (for tests that look for a line)."""
        return "".join(o.get("text", "") for c in self.nb.cells if c.cell_type == "code" for o in c.outputs)


class _OutputWidget(_NbclientOutputWidget):
    """nbclient's Output-widget stand-in, sending its echo through the asyncio shell socket."""

    def _publish_msg(self, msg_type, data=None, metadata=None, buffers=None, **keys):
        content = json_clean(dict(data={} if data is None else data, comm_id=self.comm_id, **keys))
        session = self.kernel_client.session
        msg = session.msg(msg_type, content=content, parent=self.parent_header,
                          metadata={} if metadata is None else metadata)
        self.kernel_client.shell_channel.socket.send_multipart(session.serialize(msg))


def _sliced(get_msg):
    """``get_msg`` that polls in slices of POLL_SLICE_S: a lost wake-up is found at the next slice."""
    async def get_msg_sliced(timeout=None):
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = POLL_SLICE_S if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                return await get_msg(timeout=min(POLL_SLICE_S, left))
            except Empty:
                if deadline is not None and time.monotonic() >= deadline:
                    raise
    return get_msg_sliced


class CourseNotebookClient(NotebookClient):
    """nbclient with the guards above, a ``CellTime`` per code cell and the kernel's peak RSS."""

    def __init__(self, nb, **kwargs):
        super().__init__(nb, **kwargs)
        self.widget_registry = {"@jupyter-widgets/output": {"OutputModel": _OutputWidget}}
        self.cell_times: list[CellTime] = []
        self.current_cell: int | None = None
        self.peak_rss_mb: float | None = None

    async def async_start_new_kernel_client(self):
        kc = await super().async_start_new_kernel_client()
        for channel in (kc.shell_channel, kc.iopub_channel):
            channel.get_msg = _sliced(channel.get_msg)
        return kc

    async def async_execute_cell(self, cell, cell_index, execution_count=None, store_history=True):
        if cell.cell_type != "code" or not cell.source.strip():
            return await super().async_execute_cell(cell, cell_index, execution_count, store_history)
        self.current_cell = cell_index
        cpu0, start = self._kernel_stat(), time.perf_counter()
        try:
            return await super().async_execute_cell(cell, cell_index, execution_count, store_history)
        finally:
            wall = time.perf_counter() - start
            cpu1 = self._kernel_stat()
            cpu = cpu1 - cpu0 if cpu0 is not None and cpu1 is not None else None
            self.cell_times.append(CellTime(cell_index, wall, cpu, _kernel_seconds(cell)))
            self.peak_rss_mb = self._kernel_peak_rss_mb() or self.peak_rss_mb

    def handle_comm_msg(self, outs, msg, cell_index):
        """As a browser does, forget a widget the kernel closed: its view disappears."""
        super().handle_comm_msg(outs, msg, cell_index)
        if msg["msg_type"] == "comm_close":
            self.widget_state.pop(msg["content"]["comm_id"], None)
            self.widget_buffers.pop(msg["content"]["comm_id"], None)

    def _kernel_pid(self) -> int | None:
        try:
            return self.km.provisioner.process.pid
        except AttributeError:
            return None

    def _kernel_stat(self) -> float | None:
        """User + system CPU seconds of the kernel process so far (Linux /proc; None elsewhere)."""
        try:
            with open(f"/proc/{self._kernel_pid()}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return sum(int(v) for v in fields[11:15]) / os.sysconf("SC_CLK_TCK")   # utime stime cutime cstime
        except (OSError, ValueError, IndexError):
            return None

    def _kernel_peak_rss_mb(self) -> float | None:
        try:
            with open(f"/proc/{self._kernel_pid()}/status") as f:
                return next(int(line.split()[1]) / 1024 for line in f if line.startswith("VmHWM:"))
        except (OSError, StopIteration, ValueError):
            return None


def _kernel_seconds(cell) -> float | None:
    timing = cell.metadata.get("execution", {})
    try:
        start, end = (datetime.fromisoformat(timing[k].replace("Z", "+00:00"))
                      for k in ("iopub.execute_input", "shell.execute_reply"))
    except (KeyError, ValueError):
        return None
    return (end - start).total_seconds()


def kernel_env(quick: bool | None = None, env: dict | None = None) -> dict:
    """The kernel's environment: this one, this checkout's course_lib first, quick mode as asked."""
    out = {k: v for k, v in os.environ.items() if quick is None or k not in ("COURSE_LIB_QUICK", "MPLBACKEND")}
    if quick:
        out["COURSE_LIB_QUICK"] = "1"
    out["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    out.update(env or {})
    return out


def run_notebook(notebook, *, quick: bool | None = None, env: dict | None = None, timeout: int = CELL_TIMEOUT_S,
                 cwd: Path | None = None, store_widget_state: bool = False, kernel_log: Path | None = None,
                 check: bool = True) -> NotebookRun:
    """Execute ``notebook`` (a path, or a notebook node with ``cwd``) top to bottom in a fresh kernel.

    ``quick``: None keeps this process's ``COURSE_LIB_QUICK``; True/False sets or clears it.
    ``env``: extra variables for the kernel. The kernel's working folder is the notebook's.
    With ``check`` a failed, timed-out or stalled cell raises ``NotebookRunError``; without it,
    the error is in ``NotebookRun.error``. The kernel's own stderr goes to ``kernel_log``.
    """
    if isinstance(notebook, (str, Path)):
        path = Path(notebook)
        nb, name, cwd = nbformat.read(path, as_version=4), path.name, cwd or path.parent
    else:
        nb, name = notebook, "notebook"
    client = CourseNotebookClient(nb, timeout=timeout, kernel_name="python3", store_widget_state=store_widget_state,
                                  record_timing=True, resources={"metadata": {"path": str(cwd or Path.cwd())}})
    run = NotebookRun(nb)
    where = lambda: f"{name} cell {client.current_cell}"   # noqa: E731
    start = time.perf_counter()
    try:
        with open(kernel_log or os.devnull, "w") as stderr:
            client.execute(env=kernel_env(quick, env), stderr=stderr)
    except CellExecutionError as e:
        run.error = f"{where()}: {e.ename}: {e.evalue}"
    except CellTimeoutError:
        run.error = f"{where()}: CellTimeoutError: still running after the {timeout} s allowed per cell"
    except DeadKernelError as e:   # out of memory, or a crash below Python
        run.error = f"{where()}: DeadKernelError: {str(e).strip().splitlines()[0]}"
    run.seconds = time.perf_counter() - start
    run.cells, run.peak_rss_mb = client.cell_times, client.peak_rss_mb
    if run.error is None:
        stalled = [t for t in client.cell_times if t.problem()]
        if stalled:
            run.error = f"{name} cell {stalled[0].index}: {stalled[0].problem()}"
    if check and run.error:
        raise NotebookRunError(run.error)
    return run


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Run notebooks headless in fresh kernels; print times and memory.")
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--quick", action="store_true", help="quick mode (small sizes) instead of lecture mode")
    parser.add_argument("--timeout", type=int, default=CELL_TIMEOUT_S, help="seconds allowed per cell")
    args = parser.parse_args(argv)
    failed = 0
    print(f"{'notebook':<44} {'seconds':>8} {'peak RSS MB':>12}")
    for path in args.notebooks:
        run = run_notebook(path, quick=args.quick, timeout=args.timeout, check=False)
        failed += run.error is not None
        rss = f"{run.peak_rss_mb:.0f}" if run.peak_rss_mb else "?"
        print(f"{path.name:<44} {run.seconds:>8.1f} {rss:>12}" + (f"  FAILED {run.error}" if run.error else ""), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
