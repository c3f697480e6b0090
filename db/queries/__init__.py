"""Statements per capability. Every read of a tenant table starts from a `readable_*` builder."""
