"""Opening an IFC-SPF file: schema checks, pre-release IFC4.3 headers, limits.

ifcopenshell reads IFC2X3, IFC4 and IFC4X3_ADD2. Files whose header names a
pre-release IFC4.3 schema (``IFC4X3_RC1`` .. ``RC4``, common in
infrastructure pilots) are read as IFC4X3_ADD2 and the report says so; if
that fails the error names the schema. A file cut short (an interrupted
download) is refused: ifcopenshell would read it up to the cut without a
word.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from twin.errors import ConversionError

from .base import MAX_FILE_BYTES

_PRERELEASE = re.compile(rb"FILE_SCHEMA\s*\(\s*\(\s*'(IFC4X3_RC[1-4])'\s*\)\s*\)", re.I)
_SCHEMA = re.compile(rb"FILE_SCHEMA\s*\(\s*\(\s*'([^']*)'", re.I)


def sniff(head: bytes) -> bool:
    return head.lstrip()[:13].upper() == b"ISO-10303-21;"


def open_model(path: Path, report: dict[str, Any]) -> tuple[Any, str | None]:
    """Open an IFC-SPF file; returns the model and, when the file had to be
    rewritten to be read (a pre-release IFC4.3 schema), its rewritten text."""
    import ifcopenshell

    src = str(path)
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise ConversionError(f"{path}: {size} bytes is over the limit of {MAX_FILE_BYTES}",
                              source=src)
    with open(path, "rb") as fh:
        head = fh.read(8192)
        fh.seek(max(0, size - 4096))
        tail = fh.read()
    if not sniff(head):
        raise ConversionError(f"{path}: not an IFC-SPF file (no ISO-10303-21 header)",
                              source=src)
    if b"END-ISO-10303-21" not in tail.upper():
        # ifcopenshell reads a cut-off file up to the cut without a word
        raise ConversionError(
            f"{path}: the file is incomplete: it does not end with 'END-ISO-10303-21;' "
            f"({size} bytes; an interrupted download or export?)", source=src)
    schema = _SCHEMA.search(head)
    report["schema_in_file"] = schema.group(1).decode(errors="replace") if schema else None
    pre = _PRERELEASE.search(head)
    if pre is not None:
        name = pre.group(1).decode()
        data = path.read_bytes()
        text = _PRERELEASE.sub(b"FILE_SCHEMA(('IFC4X3_ADD2'))", data, count=1)
        decoded = text.decode("latin-1")
        try:
            model = ifcopenshell.file.from_string(decoded)
        except Exception as exc:
            raise ConversionError(
                f"{path}: the header names the pre-release schema {name}, which cannot be "
                f"read as IFC4X3_ADD2 ({exc})", source=src) from None
        report["schema_note"] = f"header names the pre-release schema {name}; read as IFC4X3_ADD2"
        return model, decoded
    try:
        return ifcopenshell.open(src), None
    except Exception as exc:
        what = report["schema_in_file"]
        raise ConversionError(f"{path}: cannot be read as IFC (schema {what!r}): {exc}",
                              source=src) from None
