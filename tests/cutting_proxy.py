"""A TCP proxy on loopback that cuts connections: once the bytes sent towards the server
pass each of the given marks, it forwards up to the mark and then resets both sides, like a
mobile link dropping in the middle of a request."""

from __future__ import annotations

import contextlib
import socket
import struct
import threading

from tests.live_server import free_port


class CuttingProxy:
    def __init__(self, target_port: int, cut_at: list[int]) -> None:
        self.target_port = target_port
        self.marks = sorted(cut_at)
        self.sent = 0  # bytes forwarded towards the server, over all connections
        self.cuts = 0
        self.lock = threading.Lock()
        self.port = free_port()
        self.listener = socket.create_server(("127.0.0.1", self.port))
        self.listener.settimeout(0.2)
        self.running = True
        self.sockets: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.running = False
        self.thread.join(timeout=5)
        self.listener.close()
        _close(*self.sockets)

    def _accept(self) -> None:
        while self.running:
            try:
                client, _ = self.listener.accept()
            except TimeoutError:
                continue
            server = socket.create_connection(("127.0.0.1", self.target_port))
            self.sockets += [client, server]
            threading.Thread(target=self._upstream, args=(client, server), daemon=True).start()
            threading.Thread(target=self._downstream, args=(server, client), daemon=True).start()

    def _allowance(self, wanted: int) -> tuple[int, bool]:
        """How many of `wanted` bytes may pass, and whether the link is cut after them."""
        with self.lock:
            if self.marks and self.sent + wanted >= self.marks[0]:
                allowed = self.marks.pop(0) - self.sent
                self.sent += allowed
                self.cuts += 1
                return allowed, True
            self.sent += wanted
            return wanted, False

    def _upstream(self, client: socket.socket, server: socket.socket) -> None:
        try:
            while data := client.recv(65536):
                allowed, cut = self._allowance(len(data))
                server.sendall(data[:allowed])
                if cut:
                    _reset(client)
                    _reset(server)
                    return
        except OSError:
            pass
        _close(client, server)

    @staticmethod
    def _downstream(server: socket.socket, client: socket.socket) -> None:
        try:
            while data := server.recv(65536):
                client.sendall(data)
        except OSError:
            pass
        _close(client, server)


def _reset(sock: socket.socket) -> None:
    """Close with RST (SO_LINGER 0), as a dropped link looks to both ends."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        # Wake the other direction's thread blocked in recv(): a bare close() would leave the
        # socket open in the kernel until that recv returns, and the peer would wait forever.
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()


def _close(*socks: socket.socket) -> None:
    for sock in socks:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()
