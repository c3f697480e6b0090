"""`contacts(...)` for the compiled path: `resolvers.contacts.contacts.list_contacts` with compiled projection,
cursors made only when the response shows them, and `totalCount` (only when asked for) from the same statement.

The statement is the plain resolver's own (`_scoped_select`, `_conditions`, keyset and order): the same record
scope, scope flags and filter checks. Without a filter it is built once per decision table, caller and shape and
kept (`_scoped`), and it runs on the session's connection past the ORM layer (`execute_core`). `totalCount` is a
window count over the same scoped, filtered statement (`count(*) over ()`, computed before the LIMIT) when the
page starts at the beginning; after a cursor the keyset condition would narrow the window, so it is then a count
of the same filtered query, as the plain path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from authz.access import FieldPlan
from db.models import Contact
from db.queries import contacts as q
from resolvers import pagination
from resolvers.contacts.contacts import ENTITY, ContactFilter, ContactOrder, _conditions, _scoped_select
from resolvers.projection import Record, Selection, in_slices
from resolvers.reads.kept import Kept
from resolvers.reads.projection import projector
from resolvers.runtime import Caller

Cursors = Literal["all", "ends", "none"]
TOTAL = "_total"

# Scoped statements by (decision table, principal, shape): the record scope, scope flags, field plan and order
# of a caller are built once per role set and policy version (the table) and caller (their own id and team are
# in the scope), not per request.
_STATEMENTS: Kept[Scoped] = Kept(512)


@dataclass(frozen=True)
class Scoped:
    base: Any  # the scoped, filtered statement with its sort column (and window count): before keyset and limit
    plan: FieldPlan
    order: Any  # the sort expression
    first_page: Any  # `base` in order, limited to the page size (plus one): the statement of a page from the start


def _build(caller: Caller, selection: Selection, order: ContactOrder, flt: ContactFilter | None, window: bool,
           size: int) -> Scoped:
    expr = q.order_expression(order.field, caller.access.activity_times())
    stmt, plan = _scoped_select(caller, selection)
    stmt = stmt.where(*_conditions(caller, flt)).add_columns(expr.label("_sort"))
    if window:
        stmt = stmt.add_columns(func.count().over().label(TOTAL))
    return Scoped(stmt, plan, expr, _ordered(stmt, expr, order, size))


def _ordered(stmt: Any, expr: Any, order: ContactOrder, size: int) -> Any:
    direction = (lambda c: c.desc()) if order.descending else (lambda c: c.asc())
    return stmt.order_by(direction(expr), direction(q.T.id)).limit(size + 1)


def _scoped(caller: Caller, selection: Selection, order: ContactOrder, flt: ContactFilter | None, window: bool,
            size: int) -> Scoped:
    if flt is not None:  # filter values are the caller's input: not kept
        return _build(caller, selection, order, flt, window, size)
    key = (caller.access.principal, selection.names, order.field, order.descending, window, size)
    return _STATEMENTS.get((caller.access.table,), key, lambda: _build(caller, selection, order, flt, window, size))


async def list_contacts(
    session: AsyncSession,
    caller: Caller,
    *,
    first: int | None,
    after: str | None,
    flt: ContactFilter | None,
    order: ContactOrder | None,
    selection: Selection,
    want_total: bool,
    cursors: Cursors,
) -> pagination.Page[Record]:
    """One page as `resolvers.contacts.contacts.list_contacts` returns it; `cursors` says which the response
    shows (every edge's, only the first and last for `pageInfo`, none); the others are empty strings."""
    size = pagination.page_size(first)
    order = order or ContactOrder()
    _, value_kind, needs = q.ORDER_COLUMNS[order.field]
    if needs:
        caller.access.require_readable(ENTITY, [needs], "ordering")
    kind = f"{order.field}.{'DESC' if order.descending else 'ASC'}.{value_kind}"
    window = want_total and not after
    scoped = _scoped(caller, selection, order, flt, window, size)
    plan, stmt = scoped.plan, scoped.first_page
    if after:
        value, row_id = pagination.decode_cursor(after, kind, cipher=caller.tenant.cipher)
        keyset = q.keyset_after(order.field, order.descending, value, row_id, scoped.order)
        stmt = _ordered(scoped.base.where(keyset), scoped.order, order, size)
    result = await session.execute_core(stmt, {})  # type: ignore[attr-defined]
    keys = list(result.keys())
    rows = list(result.all())
    has_next = len(rows) > size
    total = None
    if window:  # from the rows fetched (`first: 0` still fetches one), before the page is cut
        total = int(rows[0][keys.index(TOTAL)]) if rows else 0
    rows = rows[:size]
    if want_total and not window:
        scope = caller.access.record_filter(ENTITY)
        count = select(func.count()).select_from(Contact.__table__).where(scope, *_conditions(caller, flt))
        total = int(await session.scalar(count) or 0)
    cipher = caller.tenant.cipher
    masked = frozenset(n.removesuffix("Masked") for n in selection.names if n.endswith("Masked"))
    project = projector(caller.access.table, plan, keys, cipher, masked).project
    records = await in_slices(rows, lambda part: project(part, caller.audit))
    sort_index, id_index = keys.index("_sort"), keys.index("id")

    def cursor(row: object) -> str:
        return pagination.encode_cursor(row[sort_index], row[id_index], kind, cipher=cipher)  # type: ignore[index]

    if cursors == "all":
        made = [cursor(row) for row in rows]
    else:
        made = [""] * len(rows)
        if cursors == "ends" and rows:
            made[0], made[-1] = cursor(rows[0]), cursor(rows[-1])
    return pagination.Page(records, made, has_next, total)
