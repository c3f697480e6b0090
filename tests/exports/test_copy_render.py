"""The EN and ZH copies render in a browser (issue 13, "Done when"): Debian's headless Chromium screenshots
`index.html` opened from the unzipped archive, and each PNG must show a real page (big enough, with text on
white, not blank). The pictures go to `$COPY_SHOTS` when it is set, for a person to look at."""

from __future__ import annotations

import asyncio
import os
import shutil
import struct
import zlib
from pathlib import Path

import httpx
import pytest

from resolvers.runtime import Runtime
from tests.exports.copy_helpers import make_copy, person
from tests.factories.workspaces import GraphQLClient, WorkspaceFactory

CHROMIUM = "/usr/bin/chromium"
WIDTH, HEIGHT = 1200, 2400


def png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """Width, height and the unfiltered rows of an 8-bit RGB or RGBA PNG (what Chromium writes)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, width, height, channels = 8, b"", 0, 0, 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", chunk[:10])
            assert depth == 8 and colour in (2, 6), (depth, colour)
            channels = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    raw, stride, rows = zlib.decompress(idat), width * channels, []
    previous = bytearray(stride)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up, corner = previous[i], previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                line[i] = (line[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) & 0xFF
        rows.append(bytes(line))
        previous = line
    return width, height, [r[::channels] for r in rows]  # the red channel is enough to tell ink from paper


async def screenshot(page: Path, out: Path, profile: Path) -> None:
    process = await asyncio.create_subprocess_exec(
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", f"--user-data-dir={profile}",
        f"--screenshot={out}", f"--window-size={WIDTH},{HEIGHT}", page.as_uri(),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    await asyncio.wait_for(process.wait(), 120)
    assert out.is_file(), "Chromium wrote no screenshot"


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium (.ci/run installs it)")
async def test_the_english_and_chinese_copies_render_in_chromium(
    gql: GraphQLClient, http: httpx.AsyncClient, runtime: Runtime, workspaces: WorkspaceFactory, tmp_path: Path
) -> None:
    ws = await workspaces.create()
    facts = await person(gql, http, ws)
    shots = os.environ.get("COPY_SHOTS")
    for language in ("EN", "ZH"):
        copy = await make_copy(gql, http, runtime, ws, facts, language)
        folder = tmp_path / language.lower()
        copy.archive.extractall(folder)
        if language == "ZH":  # the English copy's download, in the Chinese copy's access record
            assert "使用副本下載連結的人士於" in copy.page and "下載了你的資料副本" in copy.page
        out = tmp_path / f"copy-{language.lower()}.png"
        await screenshot(folder / "index.html", out, tmp_path / "profile")
        width, height, rows = png_pixels(out.read_bytes())
        assert (width, height) == (WIDTH, HEIGHT)
        ink = sum(1 for row in rows for v in row if v < 128) / (width * height)
        dark_rows = sum(1 for row in rows if min(row) < 128)
        assert 0.005 < ink < 0.4, ink  # text on white: neither blank nor a solid block
        assert dark_rows > HEIGHT // 4, dark_rows  # the page is filled from top to bottom, not one line
        if shots:
            Path(shots).mkdir(parents=True, exist_ok=True)
            shutil.copyfile(out, Path(shots) / out.name)
