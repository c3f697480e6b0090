"""Helpers of the data-subject tests: a DPO role with narrow field rules, running an export job to its end and
reading its ZIP, creating requests."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

from resolvers.exports import runner
from resolvers.runtime import Runtime
from schema.ids import from_global
from tests.factories.workspaces import GraphQLClient, Workspace

ADD_POLICY = "mutation($r:PolicyRuleInput!){ addPolicy(rule:$r){ role } }"
CREATE = "mutation($i:DataRequestInput!){ createDataRequest(input:$i){ id status contacts { id } } }"
EXPORT = "mutation($c:ID!,$r:ID){ requestContactExport(contactId:$c, dataRequestId:$r){ id status } }"
FULFIL = """mutation($id:ID!,$m:String,$c:String){ fulfilDataRequest(id:$id, deliveryMethod:$m, correction:$c){
  id status deliveredAt deliveryMethod correction fulfilledAt exportId } }"""
DPO_RULES = [("data_request", "read"), ("data_request", "write"), ("contact", "read"), ("contact", "export"),
             ("pii:name", "read"), ("activity", "read"), ("user", "read")]


async def dpo(gql: GraphQLClient, ws: Workspace, role: str = "dpo") -> dict[str, str]:
    """A data protection officer who may read names only: their own view of a contact hides e-mail and phone."""
    for resource, action in DPO_RULES:
        await gql.ok(ADD_POLICY, {"r": {"role": role, "resource": resource, "action": action, "effect": "ALLOW"}},
                     ws.admin_token)
    return await ws.user(role, [role])


async def create_request(gql: GraphQLClient, ws: Workspace, token: str, **given: Any) -> dict[str, Any]:
    body = {"kind": "ACCESS", "requesterName": "Chan Tai Man", **given}
    return (await gql.ok(CREATE, {"i": body}, token))["createDataRequest"]  # type: ignore[no-any-return]


async def run_export(runtime: Runtime, ws: Workspace, export_id: str) -> dict[str, Any]:
    """Run the job as the worker would, then return the ZIP's files (JSON parsed, HTML as text)."""
    job = await runner.run(runtime, ws.slug, from_global(export_id)[1])
    assert job is not None and job.status == "SUCCEEDED", job and job.error
    path = runner.file_path(runtime, job)
    assert path is not None
    files: dict[str, Any] = {}
    with zipfile.ZipFile(io.BytesIO(path.read_bytes())) as archive:
        for name in archive.namelist():
            data = archive.read(name)
            files[name] = json.loads(data) if name.endswith(".json") else data
    return files
