"""Answer a request from its compiled plan (`schema.compiled.plan`), or return None for the plain executor.

The document must validate without an error in the schema's `DocumentCache`, under every rule of the
schema (learnt from the executor's first request). Variables are coerced by graphql-core and the
arguments converted by Strawberry, exactly as the executor does; string variables pass `schema.strings`. Then
the plain resolvers' statements (`resolvers.reads.contacts`, compiled projection, with the record scope in SQL,
the decision table's field decisions and the same audit events; `schema.contacts.read_contact` for one
contact) produce the records, the plan turns them into
the response's dicts, and the unit of work ends as `schema.errors.UnitOfWork` ends it (redaction errors, audit
flush and commit, fail closed).

Anything unusual gives up before or instead of answering, leaving no trace (the audit buffer and the
redactions are restored) so the plain executor answers it from the start: a document not yet validated, bad
variables, a credentials error, a typed error from the resolver (a bad cursor, NOT_FOUND), a non-null field
whose decision is not a constant ALLOW (the executor nulls the node with an error), a null in a non-null field.
"""

from __future__ import annotations

import logging
from typing import Any

from graphql import GraphQLError, get_argument_values, get_variable_values
from strawberry.http import GraphQLRequestData
from strawberry.schema import Schema
from strawberry.types import ExecutionResult
from strawberry.types.arguments import convert_arguments

from authz.rules import Effect
from resolvers.contacts import contacts
from resolvers.reads import contacts as reads
from schema.compiled.documents import DocumentCache
from schema.compiled.plan import ENTITY, Plan, compile_plan
from schema.contacts import read_contact
from schema.context import Context
from schema.enums import OrderDirection
from schema.errors import internal_error, redaction_errors
from schema.strings import bad_value

log = logging.getLogger("crm.graphql")
_NOT_COMPILED = object()
MAX_PLANS_PER_DOCUMENT = 8


class Compiled:
    """The compiled read path of one schema."""

    def __init__(self, schema: Schema, documents: DocumentCache) -> None:
        self.schema = schema
        self.documents = documents
        contacts = schema.get_field_for_type("contacts", "Query")
        contact = schema.get_field_for_type("contact", "Query")
        assert contacts is not None and contact is not None
        self._arguments = {"contacts": contacts.arguments, "contact": contact.arguments}

    def plan_of(self, request: GraphQLRequestData) -> Plan | None:
        if not request.query:
            return None
        entry = self.documents.validated(request.query)
        if entry is None:
            return None
        plan = entry.plans.get(request.operation_name, _NOT_COMPILED)
        if plan is _NOT_COMPILED:
            plan = compile_plan(self.schema._schema, entry.document, request.operation_name)
            if len(entry.plans) < MAX_PLANS_PER_DOCUMENT:  # operation names are the client's: keep a few
                entry.plans[request.operation_name] = plan
        return plan  # type: ignore[return-value]

    def _arguments_of(self, plan: Plan, variables: dict[str, Any] | None) -> dict[str, Any] | None:
        if any(bad_value(value, ()) is not None for value in (variables or {}).values()):
            return None  # `schema.strings.StringVariables` refuses it
        coerced = get_variable_values(self.schema._schema, plan.operation.variable_definitions or (),
                                      variables or {})
        if isinstance(coerced, list):
            return None
        raw = get_argument_values(plan.field_def, plan.field_node, coerced)
        return convert_arguments(raw, self._arguments[plan.field_node.name.value],
                                 self.schema.schema_converter.scalar_registry, self.schema.config)

    async def execute(self, context: Context, request: GraphQLRequestData) -> ExecutionResult | None:
        """The answer, the unit of work ended; None: nothing was done, run the plain executor."""
        plan = self.plan_of(request)
        if plan is None:
            return None
        try:
            arguments = self._arguments_of(plan, request.variables)
        except (GraphQLError, TypeError, ValueError):
            return None
        if arguments is None or context.bearer is None:
            return None
        try:
            caller = await context.caller()
        except Exception:
            return None  # the executor reports it (the failure is kept on the context)
        for name in plan.node.non_null:
            if caller.access.field(ENTITY, name).constant is not Effect.ALLOW:
                return None
        mark, redactions = context.audit.savepoint(), len(context.redactions)
        try:
            data = await self._read(context, plan, arguments)
        except Exception:  # NotCompiled, or a typed error the executor reports
            context.audit.rollback_to(mark)
            del context.redactions[redactions:]
            return None
        return await self._finish(context, data)

    async def _read(self, context: Context, plan: Plan, arguments: dict[str, Any]) -> dict[str, Any]:
        if plan.single:
            record = await read_contact(context, arguments["id"], plan.node.selection)
            context.redact_record_at([plan.key], record)
            return {plan.key: plan.node.build(record)}
        flt, order_by = arguments.get("filter"), arguments.get("order_by")
        order = (
            contacts.ContactOrder(order_by.field.value, order_by.direction is OrderDirection.DESC) if order_by else None
        )
        async with context.db() as (session, caller):
            page = await reads.list_contacts(
                session,
                caller,
                first=arguments.get("first", 50),
                after=arguments.get("after"),
                flt=flt.to_filter() if flt else None,
                order=order,
                selection=plan.node.selection,
                want_total=plan.want_total,
                cursors=plan.cursors,  # type: ignore[arg-type]
            )
        context.redact_page_at([plan.key], page)
        return {plan.key: plan.build_page(page)}

    async def _finish(self, context: Context, data: dict[str, Any]) -> ExecutionResult:
        """As `schema.errors.UnitOfWork.on_operation` after a successful read."""
        errors = redaction_errors(context)
        result_data: dict[str, Any] | None = data
        try:
            await context.finish(ok=True)
        except Exception:
            log.exception("request %s: audit flush or commit failed; no data returned", context.request_id)
            result_data = None
            errors = [internal_error(context, "internal error: the request could not be recorded")]
        return ExecutionResult(data=result_data, errors=errors or None)
