"""The test suite as a package, so that pytest puts the repository (not tests/) first on sys.path: otherwise
tests/db and tests/authz stand in for the product's `db` and `authz`, and their modules come from wherever the
editable install points (in a git worktree, another checkout)."""
