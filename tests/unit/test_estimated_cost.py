"""`DocumentCache.estimated_cost`: the heavy relay's estimate, the same as the executor's once it has run, and
kept per document before (a process that relays every heavy operation parses each document once)."""

from __future__ import annotations

from unittest import mock

from graphql import parse, specified_rules

from schema.compiled import documents
from schema.limits import operation_costs
from schema.root import build_schema

QUERY = "query Wide { contacts(first: 100) { edges { node { id firstName } } } } query Small { me { id } }"


def test_before_the_executor_runs_the_estimate_is_the_static_cost_and_parsed_once() -> None:
    schema = build_schema()
    cache = schema.documents
    assert cache.rules is None
    expected = {op.name.value: cost for op, cost in operation_costs(schema._schema, parse(QUERY)) if op.name}
    with mock.patch.object(documents, "parse", wraps=parse) as parsing:
        assert cache.estimated_cost(QUERY, "Wide") == expected["Wide"] > cache.estimated_cost(QUERY, "Small") == \
            expected["Small"]
        assert cache.estimated_cost(QUERY, "Wide") == expected["Wide"]
    assert parsing.call_count == 1
    assert cache.estimated_cost(QUERY, None) is None  # two operations: a request must name one
    assert cache.estimated_cost("{ contacts(", None) is None  # does not parse


def test_once_the_rules_are_known_the_estimate_is_the_validated_documents() -> None:
    cache = build_schema().documents
    cache.learn({}, tuple(specified_rules))  # as the executor's first request teaches it (its rules include these)
    assert cache.estimated_cost(QUERY, "Wide") == cache.operation_cost(QUERY, "Wide") is not None
    assert cache.estimated_cost("{ contacts(first: 5) { nope } }", None) is None  # invalid: not estimated
