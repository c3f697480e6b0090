"""The console's pages, one module per workflow; each handler is a thin adapter over `resolvers/`."""
