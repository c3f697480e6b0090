"""Reading an uploaded file row by row, in flat memory: CSV or JSON Lines, in UTF-8 (with or without BOM),
UTF-16 (BOM, or NUL-byte patterns of Excel's "Unicode text") or Big5-HKSCS, detected from the first 64 KiB.

Rows are numbered from 1 (the CSV header is not a row). A JSON Lines row that is not an object is yielded as
an error string, so the job reports it and goes on.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from resolvers.errors import BadInput

SNIFF_BYTES = 64 * 1024
csv.field_size_limit(1 << 20)


def detect_encoding(head: bytes) -> str:
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    sample = head[:4096]
    if sample and sample.count(0) * 4 >= len(sample):  # UTF-16 without BOM: every other byte of ASCII is NUL
        return "utf-16-be" if sample[0] == 0 else "utf-16-le"
    for encoding in ("utf-8", "big5hkscs"):
        for cut in range(4):  # a character cut at the end of the sample is fine
            try:
                head[: len(head) - cut].decode(encoding)
            except UnicodeDecodeError:
                continue
            return encoding
    raise BadInput("the file is neither UTF-8, UTF-16 nor Big5", field="file")


def detect_format(filename: str, first_text: str) -> str:
    name = filename.lower()
    if name.endswith((".jsonl", ".ndjson")):
        return "jsonl"
    if name.endswith(".csv"):
        return "csv"
    return "jsonl" if first_text.lstrip().startswith("{") else "csv"


class _Counting(io.RawIOBase):
    """Counts the bytes read from the file, for progress."""

    def __init__(self, inner: BinaryIO) -> None:
        self.inner = inner
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.inner.read(len(buffer))
        buffer[: len(data)] = data
        self.count += len(data)
        return len(data)


class Source:
    def __init__(self, path: Path, filename: str) -> None:
        self.path = path
        self.size = max(1, path.stat().st_size)
        with open(path, "rb") as handle:
            head = handle.read(SNIFF_BYTES)
        self.encoding = detect_encoding(head)
        self.format = detect_format(filename, head.decode(self.encoding, errors="ignore")[:200].lstrip("\ufeff"))

    @property
    def progress(self) -> float:
        return min(1.0, self._raw.count / self.size) if hasattr(self, "_raw") else 0.0

    def rows(self) -> Iterator[tuple[int, dict[str, Any] | str]]:
        with open(self.path, "rb") as handle:
            self._raw = _Counting(handle)
            text = io.TextIOWrapper(io.BufferedReader(self._raw), encoding=self.encoding, newline="")
            try:
                yield from (self._csv(text) if self.format == "csv" else self._jsonl(text))
            except UnicodeDecodeError as exc:
                raise BadInput(f"the file is not valid {self.encoding} past byte {self._raw.count}",
                               field="file") from exc

    def _csv(self, text: io.TextIOWrapper) -> Iterator[tuple[int, dict[str, Any] | str]]:
        reader = csv.reader(text)
        header = next(reader, None)
        if not header:
            return
        names = [h.strip().lstrip("\ufeff") for h in header]
        for number, values in enumerate(reader, start=1):
            if not any(v.strip() for v in values):
                continue  # blank line
            if len(values) > len(names):
                yield number, f"{len(values)} values for {len(names)} columns"
                continue
            yield number, dict(zip(names, values, strict=False))

    def _jsonl(self, text: io.TextIOWrapper) -> Iterator[tuple[int, dict[str, Any] | str]]:
        number = 0
        for line in text:
            if not line.strip():
                continue
            number += 1
            try:
                value = json.loads(line)
            except json.JSONDecodeError:
                yield number, "not valid JSON"
                continue
            yield (number, value) if isinstance(value, dict) else (number, "a line must be a JSON object")
