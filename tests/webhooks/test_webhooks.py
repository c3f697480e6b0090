"""Outbound webhooks (CONTRACT.md "Integrations"): a receiver on loopback gets signed events in order, with
identifiers and field names but no PII value; failed deliveries are retried with backoff under the same event id;
repeated failures disable the webhook and mail the admins; SSRF targets are refused."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from datetime import timedelta

import pytest

from resolvers.ids import global_id
from resolvers.runtime import Runtime
from resolvers.webhooks import addresses, signing
from schema.ids import from_global, to_global
from settings import InsecureSettings, Settings
from tests.factories.workspaces import GraphQLClient, WorkspaceFactory
from tests.privacy.helpers import canary, frozen, hong_kong_mobile, random_hkid
from tests.webhooks.helpers import create_webhook, deliveries, receiver, webhook_options
from workers import webhooks as webhook_actors
from workers.broker import WorkerRuntime

CREATE_CONTACT = "mutation($i:ContactInput!){createContact(input:$i){id}}"
UPDATE_CONTACT = "mutation($id:ID!,$i:ContactInput!){updateContact(id:$id,input:$i){id}}"
CREATE_ACTIVITY = "mutation($i:ActivityInput!){createActivity(input:$i){id}}"
ERASE = "mutation($id:ID!){eraseContact(id:$id, reason:\"data subject asked\"){id}}"


async def deliver(runtime: Runtime, slug: str, webhook_gid: str) -> None:
    """What a worker does with one `webhooks.deliver` message."""

    async def same_runtime() -> Runtime:
        return runtime

    actors = webhook_actors.actors(WorkerRuntime(same_runtime))
    await actors["webhooks.deliver"](slug, str(from_global(webhook_gid)[1]))  # type: ignore[operator]


def hmac_ok(secret: str, header: str, body: bytes) -> bool:
    """The receiver's check, written out independently of resolvers/webhooks/signing.py."""
    parts = dict(p.split("=", 1) for p in header.split(",") if p.startswith("t="))
    expected = hmac.new(secret.encode(), f"{parts['t']}.".encode() + body, hashlib.sha256).hexdigest()
    return any(p == f"v1={expected}" for p in header.split(","))


async def test_receiver_gets_signed_events_in_order_without_any_pii_value(
    gql: GraphQLClient, workspaces: WorkspaceFactory, runtime: Runtime
) -> None:
    ws = await workspaces.create()
    secrets_in_data = [canary("first"), canary("last"), canary("note")]
    email, phone, hkid = f"{canary('mail')}@example.com", hong_kong_mobile(), random_hkid()
    with webhook_options(runtime, allow_private=True), receiver() as rx:
        hook = await create_webhook(gql, ws, rx.url)
        contact_id = (await gql.ok(CREATE_CONTACT, {"i": {
            "firstName": secrets_in_data[0], "lastName": secrets_in_data[1], "email": email, "phone": phone,
            "hkid": hkid, "salary": 45678}}, ws.admin_token))["createContact"]["id"]
        await gql.ok(UPDATE_CONTACT, {"id": contact_id, "i": {"phone": hong_kong_mobile()}}, ws.admin_token)
        activity_id = (await gql.ok(CREATE_ACTIVITY, {"i": {"contactId": contact_id, "kind": "NOTE",
                                                            "body": secrets_in_data[2]}}, ws.admin_token))
        await gql.ok(ERASE, {"id": contact_id}, ws.admin_token)
        await deliver(runtime, ws.slug, hook["webhook"]["id"])

    bodies = [json.loads(r.body) for r in rx.requests]
    assert [b["type"] for b in bodies] == ["contact.created", "contact.updated", "activity.created", "contact.erased"]
    occurred = [b["occurredAt"] for b in bodies]
    assert occurred == sorted(occurred)
    assert len({b["id"] for b in bodies}) == 4
    assert all(set(b) == {"id", "type", "occurredAt", "workspace", "data"} for b in bodies)
    assert {b["workspace"] for b in bodies} == {ws.slug}
    assert bodies[0]["data"]["id"] == contact_id
    assert bodies[1]["data"] == {"id": contact_id, "changedFields": ["phone"]}
    assert bodies[2]["data"]["id"] == activity_id["createActivity"]["id"]
    assert "email" in bodies[0]["data"]["changedFields"] and "hkid" in bodies[0]["data"]["changedFields"]
    for request in rx.requests:
        assert hmac_ok(hook["secret"], request.headers["x-crm-signature"], request.body)
        assert request.headers["x-crm-event-id"] == json.loads(request.body)["id"]
        raw = request.body.decode() + json.dumps(request.headers)
        for value in [*secrets_in_data, email, phone, hkid, hkid[:7], "45678"]:
            assert value not in raw
    log = await deliveries(gql, ws, hook["webhook"]["id"])
    assert {(d["status"], d["attempts"], d["responseCode"]) for d in log} == {("SUCCEEDED", 1, 200)}
    assert all(d["latencyMs"] is not None and d["deliveredAt"] for d in log)
    disclosed = await gql.ok("query($c:ID!){disclosures(contactId:$c){channel recipient fields}}", {"c": contact_id},
                             ws.admin_token)
    [hooked] = [d for d in disclosed["disclosures"] if d["channel"] == "WEBHOOK"]
    assert hooked["recipient"] == rx.url and "phone" in hooked["fields"]


async def test_a_receiver_failing_three_times_gets_the_same_event_again_after_backoff(
    gql: GraphQLClient, workspaces: WorkspaceFactory, runtime: Runtime
) -> None:
    ws = await workspaces.create()
    with webhook_options(runtime, allow_private=True), receiver([500, 503, 500]) as rx:
        hook = await create_webhook(gql, ws, rx.url, ["contact.created"])
        await ws.contact(firstName="Chan")
        start = runtime.now()
        waited = timedelta()
        for attempt in range(1, 5):
            with frozen(runtime, start + waited):
                await deliver(runtime, ws.slug, hook["webhook"]["id"])
                await deliver(runtime, ws.slug, hook["webhook"]["id"])  # not due yet: nothing is sent
            assert len(rx.requests) == attempt
            waited += timedelta(seconds=runtime.webhooks.backoff_seconds(attempt) + 1)
        [first] = await deliveries(gql, ws, hook["webhook"]["id"])
        assert (first["status"], first["attempts"], first["responseCode"]) == ("SUCCEEDED", 4, 200)
        ids = {r.headers["x-crm-event-id"] for r in rx.requests} | {json.loads(r.body)["id"] for r in rx.requests}
        assert ids == {first["eventId"]}
        again = await gql.ok("mutation($d:ID!){redeliverWebhook(deliveryId:$d){id eventId status}}",
                             {"d": first["id"]}, ws.admin_token)
        assert again["redeliverWebhook"]["eventId"] == first["eventId"]
        await deliver(runtime, ws.slug, hook["webhook"]["id"])
    assert len(rx.requests) == 5 and json.loads(rx.requests[-1].body)["id"] == first["eventId"]
    assert [runtime.webhooks.backoff_seconds(n) for n in (1, 2, 3)] == [30, 60, 120]


async def test_repeated_failures_disable_the_webhook_and_mail_the_admins(
    gql: GraphQLClient, workspaces: WorkspaceFactory, runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    ws = await workspaces.create()
    with webhook_options(runtime, allow_private=True, disable_after=3, retry_base_seconds=0), \
            receiver([500] * 10) as rx, caplog.at_level(logging.INFO, logger="crm.mail"):
        hook = await create_webhook(gql, ws, rx.url, ["contact.created"])
        for _ in range(3):
            await ws.contact(firstName="Wong")
        await deliver(runtime, ws.slug, hook["webhook"]["id"])
        await deliver(runtime, ws.slug, hook["webhook"]["id"])  # disabled: nothing more is sent
    assert len(rx.requests) == 3
    listed = await gql.ok("{ webhooks { id active disabledReason } }", token=ws.admin_token)
    assert listed["webhooks"][0]["active"] is False and "3 consecutive" in listed["webhooks"][0]["disabledReason"]
    assert any(ws.admin_email in r.getMessage() and "disabled" in r.getMessage() for r in caplog.records)
    enabled = await gql.ok("mutation($id:ID!){enableWebhook(id:$id){active}}", {"id": hook["webhook"]["id"]},
                           ws.admin_token)
    assert enabled["enableWebhook"]["active"] is True


async def test_rotation_signs_with_both_secrets_during_the_overlap(
    gql: GraphQLClient, workspaces: WorkspaceFactory, runtime: Runtime
) -> None:
    ws = await workspaces.create()
    with webhook_options(runtime, allow_private=True), receiver() as rx:
        hook = await create_webhook(gql, ws, rx.url, ["contact.created"])
        rotated = await gql.ok("mutation($id:ID!){rotateWebhookSecret(id:$id, overlapHours:1){secret webhook{"
                               "secretVersion previousSecretExpiresAt}}}", {"id": hook["webhook"]["id"]},
                               ws.admin_token)
        new = rotated["rotateWebhookSecret"]
        assert new["webhook"]["secretVersion"] == 2 and new["secret"] != hook["secret"]
        await ws.contact(firstName="Lee")
        await deliver(runtime, ws.slug, hook["webhook"]["id"])
        with frozen(runtime, runtime.now() + timedelta(hours=2)):
            await ws.contact(firstName="Ho")
            await deliver(runtime, ws.slug, hook["webhook"]["id"])
    during, after = rx.requests
    now = int(json.loads(json.dumps(during.headers["x-crm-signature"].split(",")[0][2:])))
    for secret in (hook["secret"], new["secret"]):
        assert signing.verify(during.headers["x-crm-signature"], during.body, secret, now)
    assert signing.verify(after.headers["x-crm-signature"], after.body, new["secret"], now)
    assert not signing.verify(after.headers["x-crm-signature"], after.body, hook["secret"], now)
    assert not signing.verify(during.headers["x-crm-signature"], during.body, new["secret"], now + 3600)  # replay


async def test_webhooks_need_webhook_permissions(gql: GraphQLClient, workspaces: WorkspaceFactory) -> None:
    ws = await workspaces.create()
    manager = await ws.user("manager", ["manager"])
    body = await gql.raw("mutation{createWebhook(input:{url:\"https://example.com/h\", events:[\"contact.created\"]})"
                         "{secret}}", token=manager["token"])
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    body = await gql.raw("{ webhooks { id } }", token=manager["token"])
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    body = await gql.raw("mutation{createWebhook(input:{url:\"https://example.com/h\", events:[\"contact.nope\"]})"
                         "{secret}}", token=ws.admin_token)
    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "events"}


REFUSED = [
    "http://127.0.0.1:8080/h", "http://localhost/h", "http://10.0.0.7/h", "http://192.168.1.20/h",
    "http://172.16.5.4/h", "http://169.254.169.254/latest/meta-data", "http://[::1]/h", "http://[fd00::1]/h",
    "http://[fe80::1]/h", "http://[::ffff:127.0.0.1]/h", "http://0.0.0.0/h", "http://100.64.0.1/h",
]


@pytest.mark.parametrize("url", REFUSED)
async def test_private_loopback_and_link_local_addresses_are_refused(url: str) -> None:
    with pytest.raises(addresses.Refused, match="non-public"):
        await addresses.resolve(addresses.parse(url, production=False), allow_private=False)


async def test_public_addresses_pass_the_check() -> None:
    target = await addresses.resolve(addresses.parse("https://93.184.215.14:8443/h", production=True),
                                     allow_private=False)
    assert (target.address, target.pinned_url) == ("93.184.215.14", "https://93.184.215.14:8443/h")


async def test_create_webhook_refuses_internal_targets_and_writes_nothing(
    gql: GraphQLClient, workspaces: WorkspaceFactory
) -> None:
    ws = await workspaces.create()
    for url in ("http://127.0.0.1:9/h", "http://169.254.169.254/latest/meta-data", "http://[::1]/h"):
        body = await gql.raw("mutation($u:String!){createWebhook(input:{url:$u, events:[\"contact.created\"]})"
                             "{secret}}", {"u": url}, ws.admin_token)
        assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "url"}
    assert (await gql.ok("{ webhooks { id } }", token=ws.admin_token))["webhooks"] == []


async def test_production_refuses_plain_http_and_the_private_switch() -> None:
    with pytest.raises(Exception, match="https"):
        addresses.parse("http://example.com/h", production=True)
    assert addresses.parse("https://example.com/h", production=True).hostname == "example.com"
    settings = Settings(_env_file=None, CRM_ENV="production", CRM_WEBHOOK_ALLOW_PRIVATE=True,
                        DATABASE_URL="postgresql://db/crm", REDIS_URL="redis://r", CRM_SECRET_KEY="k" * 40,
                        CRM_MASTER_KEY="m" * 40)
    with pytest.raises(InsecureSettings, match="CRM_WEBHOOK_ALLOW_PRIVATE"):
        settings.check_production()


async def test_a_delivery_to_an_address_no_longer_allowed_is_refused_at_send_time(
    gql: GraphQLClient, workspaces: WorkspaceFactory, runtime: Runtime
) -> None:
    ws = await workspaces.create()
    with receiver() as rx:
        with webhook_options(runtime, allow_private=True):
            hook = await create_webhook(gql, ws, rx.url, ["contact.created"])
        await ws.contact(firstName="Yip")
        await deliver(runtime, ws.slug, hook["webhook"]["id"])
    assert rx.requests == []
    [attempt] = await deliveries(gql, ws, hook["webhook"]["id"])
    assert attempt["status"] == "PENDING" and attempt["attempts"] == 1 and "non-public" in attempt["lastError"]


def test_event_ids_are_the_api_global_ids() -> None:
    assert global_id("Contact", "5b0c") == to_global("Contact", "5b0c")
