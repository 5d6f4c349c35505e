"""Receiving an upload: ``multipart/form-data`` streamed into a server-chosen
file, with hard limits, after the request has been let in.

Frameworks spool a multipart body to a temporary file before the endpoint
runs, so a server that checks a token in the endpoint has already taken the
whole upload onto its disk when it says 401. Here the endpoint checks first
and then reads the body itself, chunk by chunk, through python-multipart's
streaming parser: file data goes straight into the file named by the server,
and the upload is refused the moment it passes its limit (413), sends a
second file (400), or stalls (408). Nothing is written anywhere else.
"""

from __future__ import annotations

import asyncio
import re
import unicodedata
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import anyio
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from .problems import ApiProblem, bad_request

if TYPE_CHECKING:  # python-multipart declares its callback types for type checkers only
    from python_multipart.multipart import MultipartCallbacks

#: Bytes of a multipart body besides the file: boundaries, part headers, the
#: small form fields.
ENVELOPE_BYTES = 64 * 1024
#: Longest value of a text field of the form.
MAX_FIELD_BYTES = 1024


def sanitise_filename(name: str, limit: int = 120) -> str:
    """The client's file name, made harmless to show and to record: the last
    path component only, control and format characters dropped, at most
    ``limit`` characters (the extension kept). Chinese names stay as they are.

    >>> sanitise_filename("../../etc/新建 buildings.geojson")
    '新建 buildings.geojson'
    >>> sanitise_filename("C:\\\\Users\\\\gis\\\\pipes.dxf")
    'pipes.dxf'
    """
    base = re.split(r"[\\/]", name)[-1]
    clean = "".join(c for c in base if unicodedata.category(c)[0] != "C").strip(" .")
    if len(clean) > limit:
        stem, dot, ext = clean.rpartition(".")
        clean = (stem[:limit - len(ext) - 2] + "~." + ext) if dot and len(ext) < 20 \
            else clean[:limit]
    return clean or "upload"


@dataclass(frozen=True)
class ReceivedUpload:
    """An upload on the server's disk: the client's (sanitised) file name,
    where the server put it, its size and the text fields of the form."""

    filename: str
    path: Path
    size: int
    fields: dict[str, str]


class _Receiver:
    """The state of one multipart body while it streams in (callbacks of
    python-multipart's parser; file data is written between chunks)."""

    def __init__(self, dest: Callable[[str], Path], max_bytes: int, fields: frozenset[str]):
        self.dest = dest
        self.max_bytes = max_bytes
        self.allowed = fields
        self.header_name = bytearray()
        self.header_value = bytearray()
        self.headers: dict[str, bytes] = {}
        self.part: str | None = None  # "file" or a field name
        self.filename: str | None = None
        self.path: Path | None = None
        self.out: BinaryIO | None = None
        self.size = 0
        self.pending = bytearray()  # file bytes parsed from the last chunk
        self.fields: dict[str, bytearray] = {}
        self.ended = False

    def callbacks(self) -> MultipartCallbacks:
        return {
            "on_part_begin": self._part_begin, "on_header_field": self._header_field,
            "on_header_value": self._header_value, "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished, "on_part_data": self._part_data,
            "on_part_end": self._part_end, "on_end": self._end,
        }

    def _part_begin(self) -> None:
        self.headers = {}
        self.part = None

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self.header_name += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self.header_value += data[start:end]

    def _header_end(self) -> None:
        self.headers[bytes(self.header_name).decode("latin-1").lower()] = bytes(self.header_value)
        self.header_name.clear()
        self.header_value.clear()

    def _headers_finished(self) -> None:
        kind, opts = parse_options_header(self.headers.get("content-disposition", b""))
        if kind != b"form-data" or b"name" not in opts:
            raise bad_request("each part of the upload needs 'Content-Disposition: form-data; "
                              "name=...'")
        name = opts[b"name"].decode("utf-8", "replace")
        if name == "file":
            if self.path is not None:
                raise bad_request("the upload holds two 'file' parts; send one file per import")
            if not opts.get(b"filename"):
                raise bad_request("the 'file' part has no filename; the file name tells "
                                  "which converter reads it")
            self.filename = sanitise_filename(opts[b"filename"].decode("utf-8", "replace"))
            self.path = self.dest(self.filename)
            self.out = open(self.path, "xb")  # noqa: SIM115 (closed by finish/abort)
        elif name in self.allowed:
            if name in self.fields:
                raise bad_request(f"form field {name!r} was given twice")
            self.fields[name] = bytearray()
        else:
            raise bad_request(f"unknown form field {name!r}; the upload takes 'file' and "
                              f"{', '.join(repr(f) for f in sorted(self.allowed))}")
        self.part = name

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        n = end - start
        if self.part == "file":
            self.size += n
            if self.size > self.max_bytes:
                raise ApiProblem(413, "Upload too large",
                                 f"{self.filename!r} exceeds the {self.max_bytes} bytes an "
                                 "upload may have")
            self.pending += data[start:end]
        elif self.part is not None:
            buf = self.fields[self.part]
            if len(buf) + n > MAX_FIELD_BYTES:
                raise bad_request(f"form field {self.part!r} is longer than "
                                  f"{MAX_FIELD_BYTES} bytes")
            buf += data[start:end]

    def _part_end(self) -> None:
        self.part = None

    def _end(self) -> None:
        self.ended = True

    def take_pending(self) -> tuple[BinaryIO, bytes] | None:
        """The file bytes parsed from the last chunk, taken, and the file they
        go to (``None`` when there are none)."""
        if not self.pending or self.out is None:
            return None
        data, self.pending = bytes(self.pending), bytearray()
        return self.out, data

    def close(self, remove: bool) -> None:
        if self.out is not None:
            self.out.close()
        if remove and self.path is not None:
            self.path.unlink(missing_ok=True)


async def receive_upload(
    chunks: AsyncIterator[bytes], content_type: str, dest: Callable[[str], Path], *,
    max_bytes: int, idle_timeout_s: float, fields: frozenset[str] = frozenset(),
    progress: Callable[[int], Awaitable[None]] | None = None,
) -> ReceivedUpload:
    """Stream a ``multipart/form-data`` body with one ``file`` part (and the
    text ``fields``) into the file ``dest(filename)`` returns.

    Raises :class:`~twin_api.problems.ApiProblem`: 415 for a body that is
    not multipart, 413 past ``max_bytes`` of file data, 408 when no byte
    arrives for ``idle_timeout_s``, 400 for a malformed or unexpected body.
    On any failure the file is removed. ``progress(bytes_so_far)`` is awaited
    every few megabytes and at least every 10 s (a slow upload
    is still alive)."""
    kind, opts = parse_options_header(content_type or "")
    if kind != b"multipart/form-data":
        raise ApiProblem(415, "Unsupported media type",
                         "send the file as multipart/form-data with a 'file' part (curl -F "
                         "file=@city.json)")
    boundary = opts.get(b"boundary")
    if not boundary or len(boundary) > 200:
        raise bad_request("the multipart Content-Type has no valid boundary")
    rec = _Receiver(dest, max_bytes, fields)
    parser = MultipartParser(boundary, rec.callbacks(), max_size=max_bytes + ENVELOPE_BYTES)
    received = 0
    reported = 0
    loop = asyncio.get_running_loop()
    last_report = loop.time()
    ok = False
    try:
        it = chunks.__aiter__()
        while True:
            try:
                chunk = await asyncio.wait_for(it.__anext__(), idle_timeout_s)
            except StopAsyncIteration:
                break
            except TimeoutError:
                raise ApiProblem(408, "Request timeout",
                                 f"the upload sent nothing for {idle_timeout_s:g} s") from None
            received += len(chunk)
            if received > max_bytes + ENVELOPE_BYTES:
                raise ApiProblem(413, "Upload too large",
                                 f"the upload exceeds the {max_bytes} bytes an upload may have")
            try:
                parser.write(chunk)
            except MultipartParseError as exc:
                raise bad_request(f"the multipart body cannot be read: {exc}") from None
            if (pending := rec.take_pending()) is not None:
                out, data = pending
                await anyio.to_thread.run_sync(out.write, data)
            now = loop.time()
            if progress is not None and (received - reported >= 4 * 1024**2
                                         or now - last_report >= 10):
                reported, last_report = received, now
                await progress(received)
        if not rec.ended:
            raise bad_request("the upload ended before the multipart body's closing boundary")
        if rec.path is None:
            raise bad_request("the upload has no 'file' part")
        if rec.size == 0:
            raise bad_request(f"{rec.filename!r} is empty")
        ok = True
    finally:
        rec.close(remove=not ok)
    return ReceivedUpload(rec.filename or "upload", rec.path, rec.size,
                          {k: bytes(v).decode("utf-8", "replace") for k, v in rec.fields.items()})
