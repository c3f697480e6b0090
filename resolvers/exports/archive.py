"""The archive writer: a ZIP (deflate, ZIP64) written one entry at a time, each entry's rows, bytes and SHA-256
recorded for the manifest. Entries are streamed: rows go in as they come, so memory stays flat.

Writes are synchronous; callers on the event loop hand batches to a thread (`asyncio.to_thread`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import uuid
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import IO, Any

from resolvers.projection import DENIED

COMPRESS_LEVEL = 3  # deflate: most of level 9's size at a fraction of its time on JSON
COPY_CHUNK = 1 << 20


def _default(value: Any) -> Any:
    if value is DENIED:
        return None
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    if isinstance(value, bytes | memoryview):
        return bytes(value).hex()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"cannot export a {type(value).__name__}")


def dumps(value: Any, *, indent: int | None = None) -> str:
    separators = None if indent else (",", ":")
    return json.dumps(value, default=_default, ensure_ascii=False, indent=indent, separators=separators)


@dataclass(frozen=True)
class FileInfo:
    name: str
    rows: int | None
    bytes: int
    sha256: str


class Entry:
    """One file inside the archive, open for writing."""

    def __init__(self, handle: IO[bytes], name: str) -> None:
        self._handle = handle
        self.name = name
        self.rows = 0
        self.size = 0
        self._digest = hashlib.sha256()

    def write(self, data: bytes) -> None:
        self._handle.write(data)
        self._digest.update(data)
        self.size += len(data)

    def jsonl(self, rows: Sequence[Mapping[str, Any]]) -> None:
        if rows:
            self.write("".join(dumps(r) + "\n" for r in rows).encode())
            self.rows += len(rows)

    def info(self, counted: bool) -> FileInfo:
        return FileInfo(self.name, self.rows if counted else None, self.size, self._digest.hexdigest())


class JsonArray(Entry):
    """A JSON document `[item, item, ...]` written item batch by batch."""

    def __init__(self, handle: IO[bytes], name: str) -> None:
        super().__init__(handle, name)
        self.write(b"[")

    def items(self, rows: Sequence[Any]) -> None:
        if not rows:
            return
        text = ",".join("\n  " + dumps(r) for r in rows)
        self.write(((",") if self.rows else "").encode() + text.encode())
        self.rows += len(rows)

    def end(self) -> None:
        self.write(b"\n]\n" if self.rows else b"]\n")


class ExportZip:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._zip = zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=COMPRESS_LEVEL,
                                    allowZip64=True)
        self.files: list[FileInfo] = []

    @contextlib.contextmanager
    def lines(self, name: str) -> Iterator[Entry]:
        with self._zip.open(name, "w", force_zip64=True) as handle:
            entry = Entry(handle, name)
            yield entry
        self.files.append(entry.info(counted=True))

    @contextlib.contextmanager
    def array(self, name: str) -> Iterator[JsonArray]:
        with self._zip.open(name, "w", force_zip64=True) as handle:
            entry = JsonArray(handle, name)
            yield entry
            entry.end()
        self.files.append(entry.info(counted=True))

    def document(self, name: str, value: Any, *, rows: int | None = None) -> FileInfo:
        return self.text(name, dumps(value, indent=2) + "\n", rows=rows)

    def text(self, name: str, text: str, *, rows: int | None = None) -> FileInfo:
        with self._zip.open(name, "w", force_zip64=True) as handle:
            entry = Entry(handle, name)
            entry.write(text.encode())
            entry.rows = rows or 0
        info = entry.info(counted=rows is not None)
        self.files.append(info)
        return info

    def copy(self, name: str, source: Path) -> FileInfo | None:
        """Copy a stored file into the archive; None (and no entry) when its bytes are gone."""
        try:
            src = open(source, "rb")  # noqa: SIM115 - closed below, after the entry is written
        except FileNotFoundError:
            return None
        with src, self._zip.open(name, "w", force_zip64=True) as handle:
            entry = Entry(handle, name)
            while chunk := src.read(COPY_CHUNK):
                entry.write(chunk)
        info = entry.info(counted=False)
        self.files.append(info)
        return info

    def close(self) -> None:
        self._zip.close()
