"""Persistence: SQLAlchemy models, engines and the catalog/tenant router, field encryption, audit writing."""
