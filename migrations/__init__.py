"""Alembic migrations: `catalog/` and `workspace/` version trees (branches) sharing one env.py."""
