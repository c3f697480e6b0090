"""Alembic environment shared by both trees. It always runs on a connection handed in by `db.migrate`.

`config.attributes["connection"]` is a sync-facing connection (from `AsyncConnection.run_sync`), and
`config.attributes["tree"]` names the tree: "catalog" or "workspace".
"""

from __future__ import annotations

from alembic import context

from db.models import CatalogBase, WorkspaceBase

config = context.config
tree = config.attributes.get("tree", "workspace")
target_metadata = CatalogBase.metadata if tree == "catalog" else WorkspaceBase.metadata


def include_object(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    # audit_events is partitioned and managed by hand-written SQL in the migrations.
    return not (type_ == "table" and name == "audit_events")


connection = config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=target_metadata,
    include_object=include_object,
    version_table=f"alembic_version_{tree}",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
