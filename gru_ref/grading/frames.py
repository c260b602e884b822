"""Length-prefixed frames over a pipe or socket: the only way data crosses the sandbox's wall.

A frame is 4 bytes of big-endian length, then that many bytes: a JSON object, or raw data that the
JSON before it announced. The reader takes a deadline and a size bound, so that a peer that writes
half a frame and sleeps, or announces a huge one, costs a timeout, never a hang or the memory; once
a frame has begun, the rest of it must follow within STALL_S.
"""
import json
import os
import select
import struct
import time

HEADER = struct.Struct(">I")
STALL_S = 10.0


class FrameError(Exception):
    """The peer broke the protocol: closed early, went silent, or sent too much or malformed data."""


def send(fd, payload, deadline=None):
    """Write one frame; with a deadline, a reader that stops reading costs a FrameError, not a hang."""
    data = payload if isinstance(payload, (bytes, bytearray)) else json.dumps(payload).encode()
    view = memoryview(HEADER.pack(len(data)) + data)
    while view:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([], [fd], [], left)[1]:
                raise FrameError("the other side stopped reading")
        written = os.write(fd, view[:1 << 16])
        view = view[written:]


def receive(fd, deadline, max_bytes):
    """One frame's bytes. deadline: a time.monotonic() value, or None to wait for ever."""
    first = _read_exactly(fd, 1, deadline)
    stalled = time.monotonic() + STALL_S
    deadline = stalled if deadline is None else min(deadline, stalled)
    (length,) = HEADER.unpack(first + _read_exactly(fd, HEADER.size - 1, deadline))
    if length > max_bytes:
        raise FrameError(f"a frame of {length} bytes, more than the {max_bytes} allowed")
    return _read_exactly(fd, length, deadline)


def receive_json(fd, deadline, max_bytes=1 << 20):
    data = receive(fd, deadline, max_bytes)
    try:
        message = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise FrameError("a frame that is not JSON") from None
    if not isinstance(message, dict):
        raise FrameError("a frame that is not a JSON object")
    return message


def _read_exactly(fd, count, deadline):
    chunks, missing = [], count
    while missing:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise FrameError("no answer in time" if not chunks and missing == count else "a frame left unfinished")
        chunk = os.read(fd, min(missing, 1 << 20))
        if not chunk:
            raise FrameError("the other side closed the channel")
        chunks.append(chunk)
        missing -= len(chunk)
    return b"".join(chunks)
