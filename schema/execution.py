"""The GraphQL executor's object completion, taken in fair turns of the event loop (`resolvers.turns`).

graphql-core completes a list by completing each item's object, synchronously, and a list of items that each
awaited something (a DataLoader) resumes all of them in one iteration of the loop. `TurnTakingExecutionContext`
lets an object be completed at once while the loop's current slice lasts and otherwise queues it for a later
slice; the executor awaits the queued completion as it awaits any field, so the response, its errors and the
order of its keys are the same, only spread over several iterations of the loop.
"""

from __future__ import annotations

from typing import Any

from graphql import GraphQLObjectType, GraphQLResolveInfo
from graphql.pyutils import AwaitableOrValue, Path
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from resolvers import turns


class TurnTakingExecutionContext(StrawberryGraphQLCoreExecutionContext):
    def complete_object_value(  # type: ignore[override]
        self,
        return_type: GraphQLObjectType,
        field_details_list: Any,
        info: GraphQLResolveInfo,
        path: Path,
        result: Any,
        position_context: Any,
    ) -> AwaitableOrValue[dict[str, Any]]:
        loop_turns = turns.current()
        complete = super().complete_object_value
        if loop_turns.may_run_now():
            return complete(return_type, field_details_list, info, path, result, position_context)
        future = loop_turns.later(
            lambda: complete(return_type, field_details_list, info, path, result, position_context)
        )
        return _settle(self, future)


async def _settle(context: TurnTakingExecutionContext, future: Any) -> Any:
    completed = await future
    if context.is_awaitable(completed):
        completed = await completed
    return completed
