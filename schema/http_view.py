"""The GraphQL-over-HTTP view: request parsing, media types, the operation timeout, the GraphiQL page.

* Malformed JSON, a batch (JSON array), a missing query or a body that is not JSON are answered in JSON,
  status 400, code BAD_USER_INPUT. A document over `max_document_chars` is refused before it is parsed.
* `Accept: application/graphql-response+json` gets that media type, and HTTP 400 when the request failed
  before execution (parse, validation, limits, variables); with `application/json` those stay 200.
* An operation running past `operation_timeout_s` is cancelled, its transaction rolled back (nothing
  written, no job sent) and answered INTERNAL with the request id.
* A POSTed query with a compiled plan is answered by `schema.compiled.run` instead of Strawberry's executor
  (the same bytes); outside production the header `X-Crm-Executor: plain` forces the executor and a compiled
  answer says `X-Crm-Executor: compiled` (for tests that hold the two to the same answer). Responses are
  serialised with orjson.
* An operation whose static cost is at least `heavy_cost` runs in the loop's heavy lane (`resolvers.heavy_lane`):
  `heavy_at_once` at a time, the workspace served longest ago first, inside the operation timeout.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import orjson
from cross_web import HTTPException
from graphql import GraphQLError
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.types import Receive, Scope, Send
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.schema import BaseSchema
from strawberry.types import ExecutionResult

from resolvers.heavy_lane import HeavyLane
from resolvers.runtime import Runtime
from schema import graphiql, preflight
from schema.compiled.documents import DocumentCache
from schema.compiled.run import Compiled
from schema.context import Context, build_context
from schema.preflight import PersistedRequestData
from schema.transport import JSON, error_body

log = logging.getLogger("crm.graphql")
DEFAULT_HEAVY_COST = 5_000  # a quarter of the default budget (`contacts(first:100)` of nine fields: about 1,000)
GRAPHQL_RESPONSE = "application/graphql-response+json"
EXECUTOR_HEADER = "x-crm-executor"


class TransportError(Exception):
    """A request refused before GraphQL sees it. `request_error`: a GraphQL request error (200 under JSON)."""

    def __init__(self, message: str, *, request_error: bool = False) -> None:
        super().__init__(message)
        self.request_error = request_error


def wants_graphql_response(request: Request) -> bool:
    return GRAPHQL_RESPONSE in request.headers.get("accept", "")


def _is_request_error(data: Any) -> bool:
    """No data and only errors raised before execution (they have no path and code BAD_USER_INPUT)."""
    if not isinstance(data, dict) or data.get("data") is not None or not data.get("errors"):
        return False
    return all(not e.get("path") and (e.get("extensions") or {}).get("code") == "BAD_USER_INPUT"
               for e in data["errors"])


class CrmGraphQL(GraphQL[Context, None]):
    def __init__(
        self,
        schema: BaseSchema,
        *,
        production: bool,
        max_document_chars: int,
        operation_timeout_s: float,
        heavy_cost: int = DEFAULT_HEAVY_COST,
        heavy_at_once: int = 1,
    ) -> None:
        super().__init__(schema, graphql_ide=None if production else "graphiql", allow_queries_via_get=False)
        self.max_document_chars = max_document_chars
        self.operation_timeout_s = operation_timeout_s
        self.production = production
        self.documents: DocumentCache | None = getattr(schema, "documents", None)
        self.compiled = Compiled(schema, self.documents) if self.documents is not None else None  # type: ignore[arg-type]
        self.heavy_cost, self.heavy_at_once = heavy_cost, heavy_at_once
        self.lane: HeavyLane | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        request = Request(scope=scope, receive=receive)
        media = GRAPHQL_RESPONSE if wants_graphql_response(request) else JSON
        try:
            response = await self.run(request)
        except TransportError as exc:
            status = 200 if exc.request_error and media == JSON else 400
            response = Response(error_body(str(exc)), status_code=status, media_type=media)
        except HTTPException as exc:
            response = Response(error_body(exc.reason), status_code=exc.status_code, media_type=media)
        await response(scope, receive, send)

    async def get_context(self, request: Request, response: Response) -> Context:  # type: ignore[override]
        runtime: Runtime = request.state.runtime
        if wants_graphql_response(request):
            response.media_type = GRAPHQL_RESPONSE
        return build_context(request, response, runtime)

    async def render_graphql_ide(self, request: Request) -> Response:
        return HTMLResponse(graphiql.page())

    async def parse_http_body(self, request: Any) -> GraphQLRequestData | list[GraphQLRequestData]:
        if request.method == "GET":
            return await super().parse_http_body(request)
        if "json" not in (request.content_type or ""):
            raise TransportError("send the operation as JSON (Content-Type: application/json)")
        try:
            data = json.loads(await request.get_body())
        except (ValueError, UnicodeDecodeError) as exc:
            raise TransportError("the request body is not valid JSON") from exc
        if isinstance(data, list):
            raise TransportError("batched operations are not supported: send one operation per request")
        if not isinstance(data, dict):
            raise TransportError("the request body must be a JSON object")
        query, document_id = data.get("query"), data.get("documentId")
        if query is None and isinstance(document_id, str):
            query = ""  # filled in from the registered document by `schema.preflight`
        elif document_id is not None:
            raise TransportError("send either query or documentId (a string), not both")
        elif not isinstance(query, str) or not query.strip():
            raise TransportError("the request has no query")
        if len(query) > self.max_document_chars:
            raise TransportError(
                f"the document is longer than {self.max_document_chars} characters", request_error=True
            )
        variables, name, extensions = data.get("variables"), data.get("operationName"), data.get("extensions")
        if not isinstance(variables, dict | None) or not isinstance(extensions, dict | None):
            raise TransportError("variables and extensions must be JSON objects")
        if not isinstance(name, str | None):
            raise TransportError("operationName must be a string")
        if isinstance(document_id, str):
            return PersistedRequestData(
                query=query, variables=variables, operation_name=name, extensions=extensions, document_id=document_id
            )
        return GraphQLRequestData(query=query, variables=variables, operation_name=name, extensions=extensions)

    async def execute_single(  # type: ignore[override]
        self, request: Request, request_adapter: Any, sub_response: Response, context: Context,
        root_value: None, request_data: GraphQLRequestData,
    ) -> ExecutionResult:
        try:
            async with asyncio.timeout(self.operation_timeout_s):
                answered = await preflight.prepare(context, request_data)
                if answered is not None:
                    return answered
                cost = self.cost_of(request_data.query, request_data.operation_name)
                async with self._lane().turn(cost, context.authenticated_workspace):  # `prepare` authenticated
                    if self.compiled is not None and request.method == "POST" and not self._plain(request):
                        answered = await self.compiled.execute(context, request_data)
                        if answered is not None:
                            if not self.production:
                                sub_response.headers[EXECUTOR_HEADER] = "compiled"
                            return answered
                    try:
                        return await super().execute_single(
                            request=request, request_adapter=request_adapter, sub_response=sub_response,
                            context=context, root_value=root_value, request_data=request_data,
                        )
                    except HTTPException:
                        await context.abandon()  # refused before the operation ran (the preflight opened a session)
                        raise
        except TimeoutError:
            log.warning("request %s: cancelled after %s s", context.request_id, self.operation_timeout_s)
            await context.abandon()
            error = GraphQLError(
                f"the operation took longer than {self.operation_timeout_s:g} s and was cancelled",
                extensions={"code": "INTERNAL", "requestId": context.request_id},
            )
            return ExecutionResult(data=None, errors=[error])

    def _lane(self) -> HeavyLane:
        loop = asyncio.get_running_loop()
        if self.lane is None or self.lane.loop is not loop:
            self.lane = HeavyLane(loop, heavy_cost=self.heavy_cost, at_once=self.heavy_at_once)
        return self.lane

    def cost_of(self, query: str | None, operation_name: str | None) -> int | None:
        """The static cost estimate of the operation (None when the document is unknown, invalid or empty)."""
        if self.documents is None or not query:
            return None
        return self.documents.estimated_cost(query, operation_name)

    def _plain(self, request: Request) -> bool:
        return not self.production and request.headers.get(EXECUTOR_HEADER) == "plain"

    def encode_json(self, data: object) -> bytes:
        return orjson.dumps(data)

    def create_response(
        self, response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse], sub_response: Response
    ) -> Response:
        response = super().create_response(response_data, sub_response)
        if sub_response.media_type == GRAPHQL_RESPONSE:
            response.headers["content-type"] = GRAPHQL_RESPONSE
            if _is_request_error(response_data):
                response.status_code = 400
        return response
