"""The row function of one list of projection steps, generated once (`resolvers.codegen.FunctionSource`).

`resolvers.reads.projection.Projector` decides a page's field steps once per combination of scope flags; this
module turns such a list into one function of a row that does exactly what interpreting the steps would (the
same `Record` values in the same key order, the same denied names, the same READ and DENIED events), with no
per-field dispatch: a plain column is an index, the rest call their step's own reader and mask.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from resolvers.codegen import FunctionSource
from resolvers.projection import CUSTOM_FIELDS, DENIED, MASKED_SUFFIX, Record

# The kinds of `resolvers.reads.projection` steps.
DENY, MASK_CUSTOM, MASK_TEXT, MASK, ALLOW_CUSTOM, ALLOW = range(6)

# (row, the audit buffer's `read`, its `denied`, the moment the rows were read) -> the row's Record
RowFunction = Callable[[Sequence[Any], Callable[..., None], Callable[..., None], Any], Record]


def row_function(entity: str, id_index: int, wants_custom: bool, steps: Sequence[Any],
                 plain_index: Callable[[Any], int | None]) -> RowFunction:
    """The function projecting one row by `steps` (`resolvers.reads.projection.Step`s); `plain_index(step)` is the
    row position a step's value is read from as stored, or None when its reader must be called."""
    code = FunctionSource(Record=Record, entity=entity)
    const, lines = code.const, code.lines
    lines += [f"rid = row[{int(id_index)}]", "rid_text = str(rid)", "values = {}"]
    if wants_custom:
        lines.append("custom = {}")
    audited = any(step.audited is not None and step.kind != DENY for step in steps)
    if audited:
        lines += ["fields = []", "categories = []"]
    denied: list[str] = []
    nulled = False
    for step in steps:
        name = const(step.name)
        if step.kind == DENY:
            denied.append(const(step.denied_as))
            if not step.custom:
                lines.append(f"values[{name}] = {const(step.deny_value)}")
                nulled = nulled or step.deny_value is DENIED
            continue
        index = plain_index(step)
        lines.append(f"v = {const(step.read)}(row, rid_text)" if index is None else f"v = row[{int(index)}]")
        lines.append("if v is None:")
        lines.append("    pass" if step.custom else f"    values[{name}] = None")
        lines.append("else:")
        if step.kind == ALLOW:
            lines.append(f"    values[{name}] = v")
            if step.companion is not None:
                lines.append(f"    values[{const(step.name + MASKED_SUFFIX)}] = {const(step.companion)}(v)")
        elif step.kind == MASK:
            lines.append(f"    values[{name}] = {const(step.mask)}(v)")
        elif step.kind == MASK_TEXT:
            lines.append(f"    values[{name}] = None")
            lines.append(f"    values[{const(step.name + MASKED_SUFFIX)}] = {const(step.mask)}(v)")
        elif step.kind == ALLOW_CUSTOM:
            lines.append(f"    custom[{name}] = v")
        else:  # MASK_CUSTOM
            lines.append(f"    custom[{name}] = {const(step.mask)}(v)")
        if step.audited is not None:
            lines.append(f"    fields.append({const(step.audited)})")
            lines.append(f"    categories.append({const(step.category)})")
    if wants_custom:
        lines.append(f"values[{const(CUSTOM_FIELDS)}] = custom")
    if audited and not nulled:
        lines.append("if fields:")
        lines.append("    read(entity, rid_text, fields, categories, at)")
    lines.append(f"denied_names = [{', '.join(denied)}]")
    if denied:
        lines.append("denied(entity, rid_text, denied_names)")
    lines.append("return Record(entity, rid, values, denied_names, row)")
    function: RowFunction = code.compile("project_row", "row, read, denied, at")
    return function
