"""Compiled reads for the compiled GraphQL path (`schema.compiled`): the same statements, field decisions and audit
events as the plain resolvers, with the per-row work compiled once per field plan."""
