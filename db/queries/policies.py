"""Policy storage in the workspace database: `casbin_rule` lines, field definitions, created roles, the policy
version."""

from __future__ import annotations

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import CasbinRule, FieldDefinition, RoleDefinition, WorkspaceMeta


async def policy_version(session: AsyncSession) -> int:
    return int(await session.scalar(select(WorkspaceMeta.policy_version).where(WorkspaceMeta.id == 1)) or 1)


async def bump_policy_version(session: AsyncSession) -> int:
    """Increment the version in the current transaction; publish it only after commit."""
    result = await session.execute(
        update(WorkspaceMeta)
        .where(WorkspaceMeta.id == 1)
        .values(policy_version=WorkspaceMeta.policy_version + 1)
        .returning(WorkspaceMeta.policy_version)
    )
    return int(result.scalar_one())


async def load_policy_lines(session: AsyncSession) -> list[tuple[str, list[str]]]:
    rows = (await session.execute(select(CasbinRule).order_by(CasbinRule.id))).scalars()
    lines: list[tuple[str, list[str]]] = []
    for r in rows:
        values = [r.v0, r.v1, r.v2, r.v3, r.v4, r.v5]
        while values and values[-1] == "":
            values.pop()
        lines.append((r.ptype, values))
    return lines


async def load_field_definitions(session: AsyncSession) -> list[FieldDefinition]:
    return list(
        (
            await session.execute(select(FieldDefinition).order_by(FieldDefinition.entity, FieldDefinition.name))
        ).scalars()
    )


async def load_role_names(session: AsyncSession) -> list[str]:
    return list((await session.execute(select(RoleDefinition.name).order_by(RoleDefinition.name))).scalars())


async def add_line(session: AsyncSession, ptype: str, values: list[str]) -> None:
    padded = [*values, "", "", "", "", "", ""][:6]
    session.add(
        CasbinRule(ptype=ptype, v0=padded[0], v1=padded[1], v2=padded[2], v3=padded[3], v4=padded[4], v5=padded[5])
    )
    await session.flush()


async def remove_line(session: AsyncSession, ptype: str, values: list[str]) -> int:
    padded = [*values, "", "", "", "", "", ""][:6]
    result = await session.execute(
        delete(CasbinRule).where(
            CasbinRule.ptype == ptype,
            CasbinRule.v0 == padded[0],
            CasbinRule.v1 == padded[1],
            CasbinRule.v2 == padded[2],
            CasbinRule.v3 == padded[3],
            CasbinRule.v4 == padded[4],
            CasbinRule.v5 == padded[5],
        )
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
