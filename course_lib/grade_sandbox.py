"""Where a student's notebook runs: a sandbox per worker slot, fresh namespaces per notebook (Linux).

Two layers. The slot: ``bwrap`` (bubblewrap) or, where it is missing, ``unshare`` starts a
*zygote* in new user, PID, network, IPC and UTS namespaces that imports torch once (seconds) and
then forks one process per notebook (milliseconds). The notebook: that fork enters namespaces of
its own (``unshare(2)``: user, mount, PID, network, IPC, UTS), builds a new root on a tmpfs that
holds only read-only binds of the system, Python, the virtualenv and ``course_lib``, an empty home
and ``/tmp``, pivots into it, sets rlimits, drops every capability and runs the notebook as PID 1
of its namespace: when it ends, the kernel kills whatever it started. Its network namespace has
no interface up, loopback included. The notebook arrives over a socket, its answers leave over
the same socket (``grade_wire``); no file it writes is read by anyone.

This module chooses the sandbox and starts one slot's zygote in it (``Slot``: the grader's side);
``grade_zygote`` is what runs inside.

A lecturer's own account needs unprivileged user namespaces (the default on Debian, Ubuntu,
Fedora). When the grader runs as root, the slot keeps root (it must read a Python that may live
in /root) but every notebook's user namespace maps to ``nobody``; either way the notebook has no
capability outside its namespaces, and its processes are counted per user namespace
(``RLIMIT_NPROC``, Linux 5.14+).
"""
import ctypes
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

from .i18n import tr

ZYGOTE = "course_lib.grade_zygote"   # started by name (python -m): it imports this module, not the reverse
SYSTEM_PATHS = ["/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib32", "/etc/ld.so.cache", "/etc/alternatives",
                "/etc/fonts"]
HOME = "/home/student"
NOBODY = 65534
PR_SET_PDEATHSIG = 1
SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "riscv64": 41}


class SandboxUnavailable(RuntimeError):
    """No sandbox can be made here; the message says why and what to do."""


def worker_env(isolated: bool) -> dict:
    env = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "MALLOC_ARENA_MAX": "2", "MPLBACKEND": "Agg",
           "COURSE_LIB_QUICK": "1", "PYTHONDONTWRITEBYTECODE": "1", "LANG": "C.UTF-8",
           "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
           "COURSE_LIB_LANG": os.environ.get("COURSE_LIB_LANG", "en")}
    if isolated:   # nothing of the lecturer's environment (tokens, paths) goes in
        env.update(PATH="/usr/local/bin:/usr/bin:/bin", HOME=HOME, USER="student", MPLCONFIGDIR="/tmp/matplotlib",
                   IPYTHONDIR=HOME + "/.ipython")
    else:
        env = {**os.environ, **env}
    return env


def visible_paths() -> list:
    """What a notebook may read: the system, Python, the virtualenv, course_lib (never the cwd or $HOME)."""
    paths = [p for p in SYSTEM_PATHS if os.path.lexists(p)]
    python = {sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.dirname(os.path.realpath(sys.executable))}
    site = {p for p in sys.path if "site-packages" in p or "dist-packages" in p}
    package = str(Path(__file__).resolve().parent)
    for p in sorted(python | site | {package}):
        if os.path.isdir(p) and not any(p == q or p.startswith(q.rstrip("/") + "/") for q in paths):
            paths.append(p)
    return paths


def choose(trusted: bool) -> str:
    """'bwrap', 'unshare' or 'none' (only with ``trusted``); ``SandboxUnavailable`` otherwise."""
    if trusted:
        return "none"
    if not sys.platform.startswith("linux") or platform.machine() not in SYS_PIVOT_ROOT:
        raise SandboxUnavailable(tr("no sandbox on this system ({system}): grading untrusted notebooks needs Linux "
                                    "with user namespaces. Pass --trust-submissions only if you trust every "
                                    "submission.", system=f"{sys.platform} {platform.machine()}"))
    reasons = []
    for kind in ("bwrap", "unshare"):
        if shutil.which(kind) is None:
            reasons.append(tr("{tool} is not installed", tool=kind))
            continue
        probe = subprocess.run(_layer_one(kind, ["/bin/true"]), capture_output=True, text=True)
        if probe.returncode == 0:
            return kind
        reasons.append(f"{kind}: {(probe.stderr.strip().splitlines() or ['?'])[-1]}")
    raise SandboxUnavailable(tr("no sandbox can be made here ({reasons}). Install bubblewrap (Debian/Ubuntu: "
                                "apt install bubblewrap) or allow unprivileged user namespaces; pass "
                                "--trust-submissions only if you trust every submission.", reasons="; ".join(reasons)))


def _layer_one(kind, command):
    own_userns = os.geteuid() != 0      # root: the slot is root in new PID/mount/net namespaces, see above
    if kind == "bwrap":
        args = ["bwrap", *(["--unshare-user"] if own_userns else []), "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
                "--unshare-cgroup-try", "--die-with-parent", "--new-session", "--cap-drop", "ALL",
                *([] if own_userns else ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID",      # to map nobody,
                                          "--cap-add", "CAP_SYS_ADMIN"]),                   # and see grade_zygote._clean_proc
                "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--dir", HOME, "--chdir", HOME]
        for p in visible_paths():
            args += ["--symlink", os.readlink(p), p] if os.path.islink(p) else ["--ro-bind", p, p]
        return args + command
    return ["unshare", *(["--user", "--map-root-user"] if own_userns else []), "--pid", "--fork", "--kill-child", "--mount-proc",
            "--net", "--ipc", "--uts", "--mount"] + command


def _die_with_parent():
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass


# ---- the grader's side: one slot ----

class Slot:
    """One zygote (in its own sandbox) and the control socket to it."""

    def __init__(self, kind: str):
        self.kind = kind
        self.control, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        notebook_uid = NOBODY if os.geteuid() == 0 else -1     # -1: the slot's own uid
        command = [sys.executable, "-m", ZYGOTE, str(theirs.fileno()), kind, str(notebook_uid)]
        self.process = subprocess.Popen(
            _layer_one(kind, command) if kind != "none" else command, pass_fds=[theirs.fileno()],
            env=worker_env(kind != "none"), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, preexec_fn=_die_with_parent, cwd="/")
        theirs.close()
        self.control.settimeout(600)
        reply = self._receive()
        if reply != b"ready":
            error = self.process.stderr.read().decode(errors="replace").strip().splitlines()
            self.close()
            raise SandboxUnavailable(tr("the grading sandbox ({kind}) did not start: {error}", kind=kind,
                                        error=(error or ["?"])[-1][:300]))
        self.control.settimeout(None)

    def _receive(self):
        try:
            return self.control.recv(256)
        except OSError:
            return b""

    def start(self, channel: socket.socket, stderr_fd: int):
        """Fork a notebook process with these two descriptors as its only link to the world."""
        socket.send_fds(self.control, [b"run"], [channel.fileno(), stderr_fd])
        reply = self._receive()
        if reply == b"" and self.process.poll() is not None:
            reply = self.process.stderr.read()[-300:]
        if reply != b"started":
            raise SandboxUnavailable(tr("the grading sandbox ({kind}) could not start a notebook: {error}",
                                        kind=self.kind, error=reply.decode(errors="replace")[:300] or "?"))

    def end(self) -> int:
        """Kill the notebook (and so everything it started); its wait status."""
        self.control.sendall(b"kill")
        reply = self._receive()
        if not reply.startswith(b"ended "):
            raise SandboxUnavailable(tr("the grading sandbox ({kind}) stopped answering", kind=self.kind))
        return int(reply.split()[1])

    def close(self):
        self.control.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process.stderr.close()
