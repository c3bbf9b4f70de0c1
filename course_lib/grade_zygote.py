"""Inside a grading slot: the zygote, and the namespaces, root and rlimits of each notebook it forks.

``grade_sandbox.Slot`` starts this module (``python -m course_lib.grade_zygote``) in the slot's sandbox.
The zygote imports torch and the course once, then for each notebook: fork; the child enters new
user, mount, PID, network, IPC and UTS namespaces (``unshare(2)``), the zygote maps its ids (uid 0
inside is ``nobody`` or the lecturer outside), the child mounts a fresh root of read-only binds
(``grade_sandbox.visible_paths``), pivots into it and forks PID 1 of its namespace, which drops every
capability and runs ``grade_worker.main``. Killing PID 1 ends everything the notebook started.
"""
import ctypes
import os
import platform
import signal
import socket
import sys

from . import grade_worker   # the zygote runs the worker; the worker imports nothing of the sandbox
from .grade_sandbox import HOME, PR_SET_PDEATHSIG, SYS_PIVOT_ROOT, visible_paths

PRELOAD = ["torch", "nbformat", "IPython.core.interactiveshell", "matplotlib.pyplot", "course_lib.exercises",
           "course_lib.grade_worker"]
DEVICES = ["/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom"]
CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = \
    1, 2, 4, 8, 32, 4096, 16384, 1 << 18
PR_SET_DUMPABLE, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS = 4, 24, 38


def zygote(control_fd: int, kind: str, notebook_uid: int):
    """Import once, then fork one notebook process per "run" on the control socket; "kill" ends it."""
    import importlib

    for name in PRELOAD:
        importlib.import_module(name)
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_DUMPABLE, 0)           # no notebook may read or trace this process
    control = socket.socket(fileno=control_fd)
    control.sendall(b"ready")
    binds = visible_paths() if kind != "none" else []
    if kind == "bwrap" and notebook_uid >= 0:
        _clean_proc(libc)
    while True:
        message, fds, _, _ = socket.recv_fds(control, 256, 2)
        if message == b"run" and len(fds) == 2:
            pid_read, pid_write = os.pipe()
            go_read, go_write = os.pipe()
            child = os.fork()
            if child == 0:
                try:
                    control.close()
                    os.close(pid_read)
                    os.close(go_write)
                    _notebook_process(fds[0], fds[1], pid_write, go_read, kind, binds)
                except BaseException as e:            # shown to the grader as the reason it could not start
                    os.write(2, f"sandbox setup failed: {type(e).__name__}: {e}\n".encode())
                finally:
                    os._exit(70)
            for fd in (*fds, pid_write, go_read):
                os.close(fd)
            line = _read_line(pid_read)
            if line == b"unshared":     # map the child's new user namespace: uid 0 there is notebook_uid here
                _map_ids(child, os.geteuid() if notebook_uid < 0 else notebook_uid,
                         os.getegid() if notebook_uid < 0 else notebook_uid)
                os.write(go_write, b"g")
                line = _read_line(pid_read)
            os.close(go_write)
            control.sendall(b"started" if line.startswith(b"pid ") else b"failed " + line[:200])
        elif message == b"kill":
            os.kill(child, signal.SIGTERM)
            status = _read_line(pid_read, whole=True)
            os.waitpid(child, 0)
            os.close(pid_read)
            control.sendall(b"ended " + (status.split()[-1] if status.split()[1:] else b"-1"))
        else:
            os._exit(0)                           # the grader is gone


def _clean_proc(libc):
    """A /proc without bubblewrap's read-only covers (which root's bwrap adds), in the slot's /tmp.

    The kernel lets a user namespace mount its own /proc only where a whole one is already visible;
    each notebook's new root hides this one again."""
    os.makedirs("/tmp/.proc", exist_ok=True)
    _check(libc.mount(b"proc", b"/tmp/.proc", b"proc", ctypes.c_ulong(MS_NOSUID | MS_NODEV | MS_NOEXEC), None),
           "mount /tmp/.proc")


def _map_ids(pid, uid, gid):
    for name, text in (("setgroups", "deny"), ("uid_map", f"0 {uid} 1"), ("gid_map", f"0 {gid} 1")):
        with open(f"/proc/{pid}/{name}", "w") as f:
            f.write(text)


def _read_line(fd, whole=False):
    """One line (a byte at a time, so the next line, e.g. an early ``status``, stays in the pipe), or all to EOF."""
    data = b""
    while whole or not data.endswith(b"\n"):
        chunk = os.read(fd, 256 if whole else 1)
        if not chunk:
            break
        data += chunk
    return data.strip()


def _notebook_process(channel_fd, stderr_fd, pid_write, go_read, kind, binds):
    """The forked child: new namespaces, then PID 1 of them runs the notebook; this process waits."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_DUMPABLE, 1)           # its own /proc/self/fd must stay its own after the uid changes
    sources = {}
    if kind != "none":
        try:
            os.setgroups([])                 # as root: not even root's group comes along
        except OSError:
            pass
        _check(libc.unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS),
               "unshare")
        os.write(pid_write, b"unshared\n")
        if os.read(go_read, 1) != b"g":
            os._exit(71)
        # opened in the new mount namespace, while the slot's rights (not yet nobody's) still reach them
        sources = {p: os.open(p, os.O_PATH | os.O_NOFOLLOW) for p in binds + DEVICES
                   if os.path.lexists(p) and not os.path.islink(p)}
        os.setresgid(0, 0, 0)                # now the mapped ids: uid 0 here is the notebook's uid outside
        os.setresuid(0, 0, 0)
    os.close(go_read)
    notebook = None

    def stop(signum, frame):
        if notebook:
            try:
                os.kill(notebook, signal.SIGKILL)
            except ProcessLookupError:       # reaped already: its status line is about to be written
                pass
    signal.signal(signal.SIGTERM, stop)
    notebook = os.fork()
    if notebook == 0:
        os.close(pid_write)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.dup2(stderr_fd, 1)
        os.dup2(stderr_fd, 2)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if kind == "none":
            os.setsid()
        else:
            _new_root(libc, binds, sources)
        _close_all_but(channel_fd)
        try:
            grade_worker.main(channel_fd, kind, drop_privileges)
        except BaseException as e:         # the notebook broke its own worker: its row says how
            os.write(2, f"{type(e).__name__}: {e}\n".encode(errors="replace"))
            os._exit(1)
        os._exit(0)
    os.write(pid_write, f"pid {notebook}\n".encode())
    os.close(channel_fd)
    os.close(stderr_fd)
    while True:
        try:
            _, status = os.waitpid(notebook, 0)
            break
        except ChildProcessError:
            status = -1
            break
    if kind == "none":              # no PID namespace: kill what the notebook left behind by its group
        try:
            os.killpg(notebook, signal.SIGKILL)
        except OSError:
            pass
    os.write(pid_write, f"status {status}\n".encode())
    os._exit(0)


def _check(result, what):
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def _new_root(libc, binds, sources):
    """Mount a root that shows ``binds`` read-only, devices, proc, an empty home and /tmp; pivot into it."""
    def mount(source, target, fstype, flags, data=None):
        _check(libc.mount(source and source.encode(), target.encode(), fstype and fstype.encode(),
                          ctypes.c_ulong(flags), data and data.encode()), f"mount {target}")

    mount(None, "/", None, MS_REC | MS_PRIVATE)
    new = "/tmp"                             # its sources are open already, so hiding them here is fine
    mount("tmpfs", new, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=755")
    for path in binds + DEVICES:
        target = new + path
        if os.path.islink(path):
            os.makedirs(os.path.dirname(target), exist_ok=True)
            os.symlink(os.readlink(path), target)
            continue
        if path not in sources:
            continue
        if os.path.isdir(f"/proc/self/fd/{sources[path]}"):
            os.makedirs(target, exist_ok=True)
        else:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            open(target, "w").close()
        mount(f"/proc/self/fd/{sources[path]}", target, None, MS_BIND | MS_REC)
        if path not in DEVICES:
            mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)
    for path, size in ((HOME, "64m"), ("/tmp", "64m"), ("/dev/shm", "16m")):
        os.makedirs(new + path, exist_ok=True)
        mount("tmpfs", new + path, "tmpfs", MS_NOSUID | MS_NODEV, f"size={size},mode=777")
    os.makedirs(new + "/proc")
    mount("proc", new + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    os.makedirs(new + "/.old")
    _check(libc.syscall(SYS_PIVOT_ROOT[platform.machine()], new.encode(), (new + "/.old").encode()), "pivot_root")
    os.chdir("/")
    _check(libc.umount2(b"/.old", 2), "umount /.old")      # MNT_DETACH
    os.rmdir("/.old")
    mount(None, "/", None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)
    for fd in sources.values():
        os.close(fd)
    os.chdir(HOME)


def _close_all_but(keep):
    null = os.open("/dev/null", os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.closerange(3, keep)
    os.closerange(keep + 1, 65536)


def drop_privileges(processes: int):
    """No capabilities, no way to gain any (setuid files are inert), at most ``processes`` processes."""
    import resource

    libc = ctypes.CDLL(None, use_errno=True)
    resource.setrlimit(resource.RLIMIT_NPROC, (processes, processes))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    for cap in range(64):
        libc.prctl(PR_CAPBSET_DROP, cap)
    _check(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)          # _LINUX_CAPABILITY_VERSION_3, this process
    data = (ctypes.c_uint32 * 6)()
    _check(libc.capset(header, data), "capset")
    libc.prctl(PR_SET_DUMPABLE, 1)


if __name__ == "__main__":
    zygote(int(sys.argv[1]), sys.argv[2], int(sys.argv[3]))
