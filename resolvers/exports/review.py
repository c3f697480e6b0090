"""What the operator checks before a person's copy is released (PDPO s.20(2)): the names still in its free
text that the workspace does not know (known ones are already replaced; see resolvers.privacy.third_parties).

Read from the finished archive itself, so the list is exactly what the person would receive: the free text of
`contact.json` (notes, custom text fields, of every record) and of `activities.json` (subjects and bodies).
"""

from __future__ import annotations

import asyncio
import json
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from authz.fields import BUILTIN_FIELDS
from db.files import FileStore
from db.models import ExportJob
from resolvers.privacy import third_parties
from resolvers.runtime import Runtime

FREE_TEXT = frozenset(s.name for s in BUILTIN_FIELDS["contact"] if s.pii == "free_text")


def record_texts(doc: Mapping[str, Any]) -> list[str]:
    """The free text of one record: notes and every text value of its custom fields."""
    values = doc.get("customFields")
    custom = [v for v in values.values() if isinstance(v, str)] if isinstance(values, dict) else []
    return [doc[n] for n in sorted(FREE_TEXT) if isinstance(doc.get(n), str)] + custom


def candidates(records: Iterable[Mapping[str, Any]], activities: Iterable[Mapping[str, Any]],
               own: set[str]) -> list[str]:
    texts = [t for r in records for t in record_texts(r)]
    texts += [a[n] for a in activities for n in ("subject", "body") if isinstance(a.get(n), str)]
    return third_parties.review_candidates(texts, own)


def names_in_copy(path: Path) -> list[str]:
    """The review list of a finished contact copy (an empty list when the archive is not one)."""
    with zipfile.ZipFile(path) as archive:
        present = set(archive.namelist())
        if "contact.json" not in present:
            return []
        doc = json.loads(archive.read("contact.json"))
        activities = json.loads(archive.read("activities.json")) if "activities.json" in present else []
    records = [doc, *doc.get("otherRecords", [])]
    return candidates(records, activities, third_parties.own_names(records))


async def of_job(runtime: Runtime, job: ExportJob) -> list[str] | None:
    """The review list of a contact export while its archive can be downloaded; None otherwise (a workspace
    export, not finished yet, expired). The job must already be one the caller may see (jobs.get_job)."""
    if job.kind != "CONTACT" or job.status != "SUCCEEDED" or job.file_key is None:
        return None
    path = FileStore(runtime.export_dir).path(job.file_key)
    if not path.is_file():
        return None
    return await asyncio.to_thread(names_in_copy, path)
