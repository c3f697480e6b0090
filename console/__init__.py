"""The admin web console: server-rendered pages under /admin, an adapter over `resolvers/` like `schema/`."""
