"""A client for ClamAV's daemon (clamd): the INSTREAM command over a Unix socket or TCP.

clamd's protocol is small (a command, then the file in length-prefixed chunks, then one line
of answer), so it is spoken here directly rather than through an unmaintained wrapper."""

from __future__ import annotations

import socket
import struct
from pathlib import Path

CHUNK = 64 * 1024


class ClamdError(RuntimeError):
    """clamd could not be reached or answered something unexpected."""


def _connect(address: str, timeout: float) -> socket.socket:
    try:
        if address.startswith("/"):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.settimeout(timeout)
                sock.connect(address)
            except OSError:
                sock.close()
                raise
            return sock
        host, _, port = address.rpartition(":")
        return socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout)
    except (OSError, ValueError) as exc:
        raise ClamdError(f"cannot reach clamd at {address}: {exc}") from exc


def _answer(sock: socket.socket) -> str:
    data = b""
    while not data.endswith(b"\0"):
        piece = sock.recv(4096)
        if not piece:
            break
        data += piece
    return data.rstrip(b"\0").decode("utf-8", "replace").strip()


def ping(address: str, timeout: float = 2.0) -> bool:
    """Whether clamd answers PONG."""
    try:
        with _connect(address, timeout) as sock:
            sock.sendall(b"zPING\0")
            return _answer(sock) == "PONG"
    except (ClamdError, OSError):
        return False


def scan_file(address: str, path: Path, timeout: float = 120.0) -> str | None:
    """Stream `path` to clamd; None when clean, else the name of what was found.
    Raises ClamdError when clamd cannot scan it (unreachable, size limit, error)."""
    try:
        with _connect(address, timeout) as sock, path.open("rb") as f:
            sock.sendall(b"zINSTREAM\0")
            while chunk := f.read(CHUNK):
                sock.sendall(struct.pack("!L", len(chunk)) + chunk)
            sock.sendall(struct.pack("!L", 0))
            answer = _answer(sock)
    except OSError as exc:
        raise ClamdError(f"clamd scan failed: {exc}") from exc
    if answer.endswith(" OK"):
        return None
    if answer.endswith(" FOUND"):
        return answer.removeprefix("stream:").removesuffix("FOUND").strip()
    raise ClamdError(f"clamd answered: {answer}")
