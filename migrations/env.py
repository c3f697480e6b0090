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
    # audit_events and its monthly partitions are managed by hand-written SQL in the migrations.
    table = name if type_ == "table" else getattr(getattr(obj, "table", None), "name", "")
    return not (table or "").startswith(("audit_events", "audit_log"))


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
