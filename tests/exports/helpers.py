"""Shared helpers of the export tests: ask for an export over GraphQL, run it the way the `exports.run` actor
does (`resolvers.exports.runner.run` in this process), download it over HTTP and open the ZIP."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import httpx

from resolvers.exports import runner as export_runner
from resolvers.runtime import Runtime
from schema.ids import from_global
from tests.factories.workspaces import GraphQLClient

JOB = "id kind status progress downloadUrl expiresAt sizeBytes sha256 error"
CONTACT_EXPORT = f"mutation($c:ID!){{ requestContactExport(contactId:$c){{ {JOB} }} }}"
WORKSPACE_EXPORT = f"mutation{{ requestWorkspaceExport {{ {JOB} }} }}"
EXPORT_JOB = f"query($id:ID!){{ exportJob(id:$id){{ {JOB} }} }}"


async def run_job(runtime: Runtime, slug: str, job_id: str) -> None:
    """What the worker's `exports.run` actor does with the message the mutation enqueued."""
    finished = await export_runner.run(runtime, slug, from_global(job_id)[1])
    assert finished is not None and finished.status == "SUCCEEDED", finished and finished.error


async def job(gql: GraphQLClient, token: str, job_id: str) -> dict[str, Any]:
    return (await gql.ok(EXPORT_JOB, {"id": job_id}, token))["exportJob"]  # type: ignore[no-any-return]


def path_of(url: str) -> str:
    """The request path of a download URL (the test client's base URL is the request's own)."""
    return "/" + url.split("://", 1)[1].split("/", 1)[1]


async def get(http: httpx.AsyncClient, url: str) -> httpx.Response:
    return await http.get(path_of(url))


def opened(response: httpx.Response) -> zipfile.ZipFile:
    return zipfile.ZipFile(io.BytesIO(response.content))


def jsonl(archive: zipfile.ZipFile, name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in archive.read(name).decode().splitlines() if line.strip()]
