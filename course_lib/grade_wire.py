"""The only channel between the grader and a sandboxed notebook: size-capped frames, parsed safely.

A frame is ``struct ">II"`` (header length, data length), a JSON header, then raw data. Tensors
travel as ``{"tensor": [dtype, shape, offset, nbytes, requires_grad]}`` in the header and their
little-endian bytes in the data; everything else is plain JSON (numbers, strings, lists). Nothing
is unpickled, nothing is evaluated: a hostile sender can make ``decode`` raise ``WireError``,
nothing more. The grader reads answers, never verdicts: points are decided on its side.
"""
import json
import math
import select
import socket
import struct
import time

import torch

HEADER_MAX = 1 << 20       # 1 MB of JSON
DATA_MAX = 64 << 20        # 64 MB of tensor bytes in one frame
DEPTH_MAX = 8              # nesting of lists and dicts
DTYPES = {str(d).removeprefix("torch."): d for d in (
    torch.float16, torch.bfloat16, torch.float32, torch.float64, torch.complex64, torch.complex128,
    torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64, torch.bool)}


class WireError(Exception):
    """The other side sent something that is not a well-formed frame (or nothing at all)."""


class WireTimeout(Exception):
    """No whole frame arrived before the deadline."""


# ---- values <-> (header, data) ----

def encode(value):
    """(JSON-able header, bytes) for a nest of tensors, numbers, strings, None, lists and dicts."""
    chunks, size = [], [0]

    def walk(v):
        if isinstance(v, torch.Tensor):
            t = v.detach().cpu().contiguous()
            dtype = str(t.dtype).removeprefix("torch.")
            if dtype not in DTYPES:
                raise WireError(f"tensor dtype {dtype} cannot be sent")
            raw = t.view(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b""
            ref = [dtype, list(t.shape), size[0], len(raw), bool(v.requires_grad)]
            chunks.append(raw)
            size[0] += len(raw)
            return {"tensor": ref}
        if isinstance(v, (list, tuple)):
            return [walk(x) for x in v]
        if isinstance(v, dict):
            return {str(k): walk(x) for k, x in v.items()}
        if v is None or isinstance(v, (bool, int, str)) or (isinstance(v, float) and math.isfinite(v)):
            return v
        if isinstance(v, float):
            return {"float": repr(v)}
        raise WireError(f"a {type(v).__name__} cannot be sent")

    return walk(value), b"".join(chunks)


def decode(header, data):
    """The nest ``encode`` made; ``WireError`` for anything else."""
    def walk(v, depth):
        if depth > DEPTH_MAX:
            raise WireError("nested too deep")
        if isinstance(v, list):
            return [walk(x, depth + 1) for x in v]
        if isinstance(v, dict):
            if set(v) == {"tensor"}:
                return _tensor(v["tensor"], data)
            if set(v) == {"float"} and v["float"] in ("nan", "inf", "-inf"):
                return float(v["float"])
            return {k: walk(x, depth + 1) for k, x in v.items()}
        if v is None or isinstance(v, (bool, int, float, str)):
            return v
        raise WireError("unexpected value")

    return walk(header, 0)


def _tensor(ref, data):
    if not (isinstance(ref, list) and len(ref) == 5 and ref[0] in DTYPES and isinstance(ref[1], list)
            and len(ref[1]) <= DEPTH_MAX and all(type(n) is int and 0 <= n <= DATA_MAX for n in ref[1])
            and all(type(n) is int and n >= 0 for n in ref[2:4]) and isinstance(ref[4], bool)):
        raise WireError("malformed tensor reference")
    dtype, shape, offset, nbytes, requires_grad = ref
    dtype = DTYPES[dtype]
    if math.prod(shape) * dtype.itemsize != nbytes or offset + nbytes > len(data):
        raise WireError("tensor size does not match its shape")
    if nbytes == 0:
        t = torch.zeros(shape, dtype=dtype)
    else:
        t = torch.frombuffer(bytearray(data[offset:offset + nbytes]), dtype=dtype).reshape(shape)
    return t.requires_grad_(requires_grad and (t.is_floating_point() or t.is_complex()))


# ---- frames on a socket ----

def send(sock: socket.socket, message: dict):
    header, data = encode(message)
    raw = json.dumps(header, allow_nan=False).encode()
    if len(raw) > HEADER_MAX or len(data) > DATA_MAX:
        raise WireError("message too large")
    sock.sendall(struct.pack(">II", len(raw), len(data)) + raw + data)


def receive(sock: socket.socket, deadline: float, on_idle=None) -> dict:
    """One message, or ``WireTimeout`` at ``deadline`` (``time.monotonic()``), ``WireError`` on EOF or junk.

    ``on_idle(ready_fds)`` is called with the other descriptors select() woke for (the grader
    drains the notebook's stderr that way while it waits)."""
    def exactly(n):
        buffer = bytearray()
        while len(buffer) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise WireTimeout
            extra = on_idle.fds if on_idle else []
            ready, _, _ = select.select([sock, *extra], [], [], min(left, 1.0))
            if on_idle and ready:
                on_idle([r for r in ready if r is not sock])
            if sock in ready:
                chunk = sock.recv(min(n - len(buffer), 1 << 20))
                if not chunk:
                    raise WireError("the channel was closed")
                buffer += chunk
        return bytes(buffer)

    header_len, data_len = struct.unpack(">II", exactly(8))
    if header_len > HEADER_MAX or data_len > DATA_MAX:
        raise WireError("message too large")
    try:
        header = json.loads(exactly(header_len).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise WireError(f"not a message ({type(e).__name__})") from None
    message = decode(header, exactly(data_len))
    if not isinstance(message, dict) or not isinstance(message.get("op"), str):
        raise WireError("not a message")
    return message
