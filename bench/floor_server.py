"""The floor for `bench/contacts_http.py`: the least a server can do to answer a sales user's contact list safely.

A minimal Starlette + asyncpg app doing the same work as the API for one fixed query, with none of its
generality: verify the JWT, look up the caller's team, one SQL statement with the record scope in its WHERE
(own or team; everything for an admin, whose roles it reads as the API does), decrypt the
encrypted columns (AES-256-GCM, the API's own cipher), mask what the sales role sees masked, write one
durable audit row naming every record and field returned, commit, and answer the JSON a GraphQL client
would get. No field rules engine, no GraphQL, no hash chain. Run by the bench:

    python bench/floor_server.py --port P   (env: FLOOR_WORKSPACE_DSN, FLOOR_CATALOG_DSN, FLOOR_SLUG,
                                             CRM_SECRET_KEY, CRM_MASTER_KEY)
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import os
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import jwt
import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from authz.masking import mask_date_of_birth, mask_email, mask_hkid, mask_salary
from db import crypto
from db.crypto import FieldLocation, WorkspaceCipher

FIELDS = ["firstName", "lastName", "email", "phone", "hkid", "salary", "dateOfBirth", "company"]
PII = ["firstName", "lastName", "email", "phone", "hkid", "salary", "dateOfBirth"]
CATEGORIES = ["name", "contact", "government_id", "financial", "date_of_birth"]
COLUMNS = """id, first_name, last_name, email, phone, hkid_enc, salary_enc, date_of_birth_enc, company, owner_id"""
SCOPED = f"select {COLUMNS} from contacts where (owner_id = $1 or team_id = $2) order by created_at, id limit $3"
EVERYTHING = f"select {COLUMNS} from contacts order by created_at, id limit $1"
CALLER = """select u.team_id,
 array(select v1 from casbin_rule where ptype = 'g' and v0 = 'user:' || $1::uuid::text) as roles
 from users u where u.id = $1::uuid and u.is_active"""
AUDIT = """insert into audit_log (id, occurred_at, actor_id, actor_kind, action, entity_type, entity_ids, fields,
 categories, request_id, policy_version) values ($1, $2, $3, 'user', 'READ', 'contact', $4, $5, $6, $7, 0)"""


async def load_cipher(catalog_dsn: str, slug: str, master_key: str) -> WorkspaceCipher:
    conn = await asyncpg.connect(catalog_dsn)
    try:
        ws = await conn.fetchrow(
            "select id, current_key_version, wrapped_index_key from workspaces where slug = $1", slug
        )
        keys = await conn.fetch("select version, wrapped from data_keys where workspace_id = $1", ws["id"])
    finally:
        await conn.close()
    data_keys = {k["version"]: crypto.unwrap_data_key(master_key, slug, k["wrapped"], k["version"]) for k in keys}
    index_key = crypto.unwrap_index_key(master_key, slug, ws["wrapped_index_key"])
    return WorkspaceCipher(slug, data_keys, ws["current_key_version"], index_key)


def build_app(pool_holder: dict[str, Any], secret: str) -> Starlette:
    async def contacts(request: Request) -> Response:
        auth = request.headers.get("authorization", "")
        try:
            claims = jwt.decode(auth.removeprefix("Bearer "), secret, algorithms=["HS256"])
        except jwt.PyJWTError:
            return Response(b'{"errors":[{"message":"sign in"}]}', status_code=401, media_type="application/json")
        me = uuid.UUID(claims["sub"])
        limit = int((await request.json()).get("first", 100))
        pool: asyncpg.Pool = pool_holder["pool"]
        cipher: WorkspaceCipher = pool_holder["cipher"]
        async with pool.acquire() as conn, conn.transaction():
            caller = await conn.fetchrow(CALLER, me)
            if caller is None:
                return Response(b'{"errors":[{"message":"sign in"}]}', status_code=401)
            admin = "admin" in caller["roles"]
            if admin:
                rows = await conn.fetch(EVERYTHING, limit)
            else:
                rows = await conn.fetch(SCOPED, me, caller["team_id"], limit)
            edges = []
            for r in rows:
                rid = str(r["id"])
                hkid = r["hkid_enc"] and cipher.decrypt_str(FieldLocation("contacts", "hkid_enc", rid), r["hkid_enc"])
                salary = r["salary_enc"] and cipher.decrypt_int(
                    FieldLocation("contacts", "salary_enc", rid), r["salary_enc"]
                )
                dob = r["date_of_birth_enc"] and cipher.decrypt_date(
                    FieldLocation("contacts", "date_of_birth_enc", rid), r["date_of_birth_enc"]
                )
                email = r["email"]
                node = {
                    "id": base64.b64encode(f"Contact:{rid}".encode()).decode(),
                    "firstName": r["first_name"],
                    "lastName": r["last_name"],
                    "email": email if admin or r["owner_id"] == me or email is None else mask_email(email),
                    "phone": r["phone"],
                    "hkid": hkid if admin else hkid and mask_hkid(hkid),
                    "salary": salary if admin else salary and mask_salary(salary),
                    "dateOfBirth": (dob.isoformat() if admin else mask_date_of_birth(dob)) if dob else None,
                    "company": r["company"],
                }
                edges.append({"node": node})
            await conn.execute(
                AUDIT,
                uuid.uuid4(),
                datetime.now(UTC),
                me,
                [str(r["id"]) for r in rows],
                PII,
                CATEGORIES,
                request.headers.get("x-request-id") or uuid.uuid4().hex,
            )
        body = {"data": {"contacts": {"edges": edges}}}
        return Response(orjson.dumps(body), media_type="application/json")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        pool_holder["pool"] = await asyncpg.create_pool(os.environ["FLOOR_WORKSPACE_DSN"], min_size=1, max_size=4)
        pool_holder["cipher"] = await load_cipher(
            os.environ["FLOOR_CATALOG_DSN"], os.environ["FLOOR_SLUG"], os.environ["CRM_MASTER_KEY"]
        )
        yield
        await pool_holder["pool"].close()

    return Starlette(routes=[Route("/contacts", contacts, methods=["POST"])], lifespan=lifespan)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    app = build_app({}, os.environ["CRM_SECRET_KEY"])
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
