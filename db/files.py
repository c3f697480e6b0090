"""The file store for export archives and attachment bytes: a directory (`EXPORT_DIR`, default
`CRM_DATA_DIR/exports`), one folder per workspace, so purging a workspace removes its files with it.

Keys are relative paths `<slug>/<area>/<name>` made by this module; a key from anywhere else is checked
to stay inside the root. Writers write to a temporary name in the same folder and `publish` renames it
(atomic on POSIX), so a reader never sees half a file and a crashed writer leaves only `*.part` litter.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
import secrets
from collections.abc import Iterable, Sequence
from pathlib import Path

SLUG_RE = re.compile(r"^[a-z][a-z0-9-]{1,62}$")
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$")
PART_SUFFIX = ".part"
CHUNK = 1 << 20


class FileStore:
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def key(self, slug: str, area: str, name: str) -> str:
        if not SLUG_RE.match(slug) or not NAME_RE.match(area) or not NAME_RE.match(name):
            raise ValueError("invalid file store key part")
        return f"{slug}/{area}/{name}"

    def path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root not in path.parents:
            raise ValueError("file store key outside the store")
        return path

    def temp_path(self, key: str, tag: str) -> Path:
        """A fresh temporary name next to `key`'s final path (same folder: the rename stays atomic)."""
        final = self.path(key)
        final.parent.mkdir(parents=True, exist_ok=True)
        return final.with_name(f"{final.name}.{tag}.{secrets.token_hex(4)}{PART_SUFFIX}")

    def publish(self, temp: Path, key: str) -> Path:
        final = self.path(key)
        with open(temp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(temp, final)
        return final

    def leftovers(self, key: str) -> list[Path]:
        """Temporary files of `key` left by writers that died (or are still writing)."""
        final = self.path(key)
        if not final.parent.is_dir():
            return []
        return sorted(p for p in final.parent.glob(f"{final.name}.*{PART_SUFFIX}"))

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def delete(self, keys: Iterable[str]) -> int:
        removed = 0
        for key in keys:
            with contextlib.suppress(FileNotFoundError):
                self.path(key).unlink()
                removed += 1
        return removed

    async def remove(self, keys: Sequence[str]) -> None:
        """The erasure `FileRemover`: delete bytes by key after the transaction committed."""
        await asyncio.to_thread(self.delete, list(keys))


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
