"""Constants and raw-HTTP helpers shared by the API tests."""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass

TOKEN = "test-token-0123456789abcdef"


@dataclass
class RawExchange:
    """What a hand-written HTTP request got: the response bytes (as far as
    they came) and how many body bytes the client managed to send."""

    response: bytes
    body_sent: int

    @property
    def status(self) -> int:
        return int(self.response.split(b" ", 2)[1]) if self.response else 0

    def header(self, name: str) -> str | None:
        head = self.response.split(b"\r\n\r\n", 1)[0].decode("latin-1")
        for line in head.split("\r\n")[1:]:
            k, _, v = line.partition(":")
            if k.strip().lower() == name.lower():
                return v.strip()
        return None


def push_upload(url: str, headers: dict[str, str], body_bytes: int, *, chunked: bool = False,
                chunk: int = 1 << 20, timeout: float = 5.0) -> RawExchange:
    """POST a multipart upload of ``body_bytes`` to ``url`` over a raw socket,
    as fast as the server takes it, reading the answer at the same time; stops
    when the server stops reading (or closes) or the body is sent."""
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=timeout)
    boundary = "b0undary"
    lines = ["POST /twin/imports HTTP/1.1", f"Host: {host}",
             f"Content-Type: multipart/form-data; boundary={boundary}",
             "Transfer-Encoding: chunked" if chunked else f"Content-Length: {body_bytes}",
             *(f"{k}: {v}" for k, v in headers.items())]
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    received: list[bytes] = []

    def read() -> None:
        try:
            while data := sock.recv(65536):
                received.append(data)
        except OSError:
            pass

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    part = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"big.geojson\"\r\n\r\n").encode()
    sent = 0
    try:
        while sent < body_bytes:
            data = part if sent == 0 else b" " * min(chunk, body_bytes - sent)
            sock.sendall(b"%x\r\n%s\r\n" % (len(data), data) if chunked else data)
            sent += len(data)
    except OSError:  # the server closed, or stopped reading (timeout)
        pass
    reader.join(timeout)
    sock.close()
    return RawExchange(b"".join(received), sent)


def disk_bytes(*folders) -> int:
    """Bytes of every file under ``folders`` (hidden ones included)."""
    return sum(f.stat().st_size for d in folders for f in d.rglob("*") if f.is_file())
