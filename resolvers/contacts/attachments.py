"""Attachments: uploads (bytes in the file store, size limit, content type checked against the bytes, SHA-256)
and downloads under the same record scope as their activity, audited as EXPORT events.

An uploaded file belongs to nobody until `createActivity(input: {attachmentIds})` links it; until then only
its uploader can fetch it. Erasure marks attachments deleted and removes the bytes (`FileStore.remove`).
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import unicodedata
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from authz.errors import AccessDenied
from authz.permissions import Action, Resource
from db.files import FileStore
from db.models import Activity, Attachment
from db.queries import activities as activity_q
from resolvers.errors import BadInput, NotFound
from resolvers.projection import FreeText
from resolvers.runtime import Caller

# A file name is the uploader's free text (often a person's name): returning it is a READ of the attachment.
FILE_NAME = FreeText("attachment", {"filename": ("free_text", lambda a: a.filename)})
MAX_BYTES = 25 * 1024 * 1024
CHUNK = 1 << 20
_OFFICE_ZIP = b"PK\x03\x04"
_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
# Allowed content types and the leading bytes their files must start with (None: text, checked as UTF-8).
ALLOWED: dict[str, tuple[bytes, ...] | None] = {
    "application/pdf": (b"%PDF-",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/gif": (b"GIF87a", b"GIF89a"),
    "image/webp": (b"RIFF",),
    "text/plain": None,
    "text/csv": None,
    "application/msword": (_OLE,),
    "application/vnd.ms-excel": (_OLE,),
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": (_OFFICE_ZIP,),
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": (_OFFICE_ZIP,),
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": (_OFFICE_ZIP,),
}
_UNSAFE = re.compile(r"[\x00-\x1f\x7f/\\]+")


class TooLarge(BadInput):
    """Over the upload limit (HTTP 413)."""


def clean_filename(name: str | None) -> str:
    base = unicodedata.normalize("NFC", (name or "").replace("\\", "/").rsplit("/", 1)[-1])
    base = _UNSAFE.sub("_", base).strip(" .")
    return base[:255] or "file"


def _check_type(content_type: str, head: bytes) -> None:
    signatures = ALLOWED[content_type]
    if signatures is None:
        if b"\x00" in head:
            raise BadInput("the file is not text", field="file")
        try:
            head.decode("utf-8")
        except UnicodeDecodeError as exc:
            if exc.start < len(head) - 3:  # a character cut at the end of the sample is fine
                raise BadInput("the file is not UTF-8 text", field="file") from exc
        return
    if not any(head.startswith(s) for s in signatures):
        raise BadInput(f"the file's content is not {content_type}", field="file")


def _store_upload(source: BinaryIO, temp: Path, content_type: str) -> tuple[int, str]:
    digest, size = hashlib.sha256(), 0
    with open(temp, "wb") as out:
        first = True
        while chunk := source.read(CHUNK):
            if first:
                _check_type(content_type, chunk[:4096])
                first = False
            size += len(chunk)
            if size > MAX_BYTES:
                raise TooLarge(f"attachments are at most {MAX_BYTES // (1024 * 1024)} MB", field="file")
            digest.update(chunk)
            out.write(chunk)
    if size == 0:
        raise BadInput("the file is empty", field="file")
    return size, digest.hexdigest()


async def upload(session: AsyncSession, caller: Caller, filename: str | None, content_type: str | None,
                 source: BinaryIO) -> Attachment:
    caller.access.require(Resource.ACTIVITY, Action.WRITE)
    if caller.principal.user_id is None:
        raise AccessDenied("attachments are uploaded by signed-in users")
    kind = (content_type or "").split(";")[0].strip().lower()
    if kind not in ALLOWED:
        raise BadInput(f"content type {kind or '(none)'!r} is not accepted", field="file")
    store = FileStore(caller.runtime.export_dir)
    attachment_id = uuid.uuid4()
    key = store.key(caller.tenant.slug, "attachments", str(attachment_id))
    temp = store.temp_path(key, "upload")
    try:
        size, sha256 = await asyncio.to_thread(_store_upload, source, temp, kind)
        await asyncio.to_thread(store.publish, temp, key)
    finally:
        temp.unlink(missing_ok=True)
    row = Attachment(id=attachment_id, activity_id=None, filename=clean_filename(filename), content_type=kind,
                     size_bytes=size, sha256=sha256, storage_key=key, uploaded_by=caller.principal.user_id)
    session.add(row)
    await session.flush()
    caller.audit.event("CREATE", entity_type="attachment", entity_id=str(attachment_id),
                       details={"sizeBytes": size, "contentType": kind})
    return row


@dataclass(frozen=True)
class Download:
    attachment: Attachment
    contact_id: uuid.UUID | None
    path: Path


async def open_download(session: AsyncSession, caller: Caller, attachment_id: uuid.UUID) -> Download:
    """The attachment if its activity is visible to the caller (or it is the caller's own unlinked upload);
    NOT_FOUND otherwise. Audited as an EXPORT event."""
    access = caller.access
    visible = activity_q.readable_activities(access.record_filter("activity"), access.record_filter("contact"),
                                             [Activity.id])
    reachable: list[ColumnElement[bool]] = [Attachment.activity_id.in_(visible)]
    if caller.principal.user_id is not None:
        reachable.append(and_(Attachment.activity_id.is_(None), Attachment.uploaded_by == caller.principal.user_id))
    stmt = (
        select(Attachment, Activity.contact_id)
        .outerjoin(Activity, Activity.id == Attachment.activity_id)
        .where(Attachment.id == attachment_id, Attachment.deleted_at.is_(None), or_(*reachable))
    )
    found = (await session.execute(stmt)).one_or_none()
    if found is None:
        raise NotFound("no such attachment")
    attachment, contact_id = found
    path = FileStore(caller.runtime.export_dir).path(attachment.storage_key)
    if not path.is_file():
        raise NotFound("the attachment's bytes are gone")
    caller.audit.event("EXPORT", entity_type="attachment", entity_id=str(attachment.id),
                       details={"activityId": str(attachment.activity_id) if attachment.activity_id else None,
                                "contactId": str(contact_id) if contact_id else None,
                                "sizeBytes": attachment.size_bytes})
    return Download(attachment, contact_id, path)
