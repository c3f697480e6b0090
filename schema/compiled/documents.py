"""Parsed and validated documents, cached per process by (document hash, schema version).

Strawberry parses and validates every request again. `CachedDocuments` (a schema extension, last in the list so
that every extension has added its rules and parse options) keeps each document's parse and its validation
result; the rules are the schema's own fixed classes (`schema.limits`, `schema.strings`, introspection), so the
cost estimate, depth and alias limits run once per document. The compiled path (`schema.compiled.run`) takes
documents that validate without an error under the executor's own options and rules (learnt from its first
request) and stores its plans in the same entry.
A document that fails to parse is not cached (Strawberry reports the error itself). Bounded LRU.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from graphql import DocumentNode, GraphQLError, GraphQLSchema, parse
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import validate_document

from schema.limits import operation_costs

MAX_DOCUMENTS = 512


@dataclass
class Entry:
    """One document: its parse (with the parse options it was parsed with), its validation errors once
    validated (with the rules), the compiled plans by operation name, the static cost of each operation (by
    name, and by None when the document holds one operation)."""

    document: DocumentNode
    options: tuple[tuple[str, Any], ...]
    errors: list[GraphQLError] | None = None
    rules: tuple[Any, ...] | None = None
    plans: dict[str | None, Any] = field(default_factory=dict)
    costs: dict[str | None, int] | None = None

    @property
    def valid(self) -> bool:
        return self.errors is not None and not self.errors


class DocumentCache:
    """Bounded LRU of `Entry` by (sha256 of the text, schema version)."""

    def __init__(self, schema: GraphQLSchema, version: str, maxsize: int = MAX_DOCUMENTS) -> None:
        self.schema = schema
        self.version = version
        self.maxsize = maxsize
        self.options: dict[str, Any] = {}
        self.rules: tuple[Any, ...] | None = None
        self._entries: OrderedDict[tuple[bytes, str], Entry] = OrderedDict()

    def _key(self, text: str) -> tuple[bytes, str]:
        return hashlib.sha256(text.encode()).digest(), self.version

    def _get(self, text: str) -> Entry | None:
        key = self._key(text)
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
        return entry

    def get(self, text: str, options: Mapping[str, Any]) -> Entry | None:
        entry = self._get(text)
        return entry if entry is not None and entry.options == tuple(sorted(options.items())) else None

    def learn(self, options: Mapping[str, Any], rules: tuple[Any, ...]) -> None:
        """The parse options and validation rules the executor uses (the schema's extensions fix them)."""
        self.options, self.rules = dict(options), rules

    def validated(self, text: str) -> Entry | None:
        """The entry of a document that validates without an error under the executor's own parse options and
        rules (once the executor has run: before, None), parsing and validating it on a miss."""
        if self.rules is None:
            return None
        entry = self.parsed(text, self.options)
        if entry is None:
            return None
        if entry.errors is None or entry.rules != self.rules:
            entry.errors = validate_document(self.schema, entry.document, self.rules)
            entry.rules = self.rules
        return entry if entry.valid else None

    def operation_cost(self, text: str, operation_name: str | None) -> int | None:
        """The static cost estimate (`schema.limits`) of the operation a request names in a valid document;
        None when the document is not (yet) known to be valid or names no such operation."""
        entry = self.validated(text)
        if entry is None:
            return None
        if entry.costs is None:
            entry.costs = self._costs(entry.document)
        return entry.costs.get(operation_name)

    def estimated_cost(self, text: str, operation_name: str | None) -> int | None:
        """`operation_cost`; before the executor has run once (its rules unknown: a process that relays every
        heavy operation may never run one), the estimate of the parsed, not yet validated document."""
        if self.rules is not None:
            return self.operation_cost(text, operation_name)
        entry = self.parsed(text, self.options)
        if entry is None:
            return None
        if entry.costs is None:
            entry.costs = self._costs(entry.document)
        return entry.costs.get(operation_name)

    def _costs(self, document: DocumentNode) -> dict[str | None, int]:
        costs = [(op.name.value if op.name else None, cost) for op, cost in operation_costs(self.schema, document)]
        by_name: dict[str | None, int] = dict(costs)
        if len(costs) == 1:
            by_name[None] = costs[0][1]
        return by_name

    def parsed(self, text: str, options: Mapping[str, Any]) -> Entry | None:
        """The entry of `text`, parsing it on a miss; None when it does not parse."""
        entry = self.get(text, options)
        if entry is not None:
            return entry
        try:
            document = parse(text, **options)
        except GraphQLError:
            return None
        entry = Entry(document, tuple(sorted(options.items())))
        self._entries[self._key(text)] = entry
        while len(self._entries) > self.maxsize:
            self._entries.popitem(last=False)
        return entry

    def __len__(self) -> int:
        return len(self._entries)


def schema_version(sdl: str) -> str:
    return hashlib.sha256(sdl.encode()).hexdigest()[:16]


class CachedDocuments(SchemaExtension):
    """Parse and validation from the schema's `DocumentCache` (`schema.root.CrmSchema.documents`)."""

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        cache: DocumentCache = context.schema.documents  # type: ignore[attr-defined]
        if context.query and context.graphql_document is None:
            entry = cache.parsed(context.query, context.parse_options)
            if entry is not None:
                context.graphql_document = entry.document
        yield

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        cache: DocumentCache = context.schema.documents  # type: ignore[attr-defined]
        entry = cache.get(context.query, context.parse_options) if context.query else None
        if entry is not None and entry.document is context.graphql_document and context.pre_execution_errors is None:
            rules = context.validation_rules
            cache.learn(context.parse_options, rules)
            if entry.errors is None or entry.rules != rules:
                entry.errors = validate_document(context.schema._schema, entry.document, rules)
                entry.rules = rules
            context.pre_execution_errors = list(entry.errors)
        yield
