"""Workspaces: creation, their life (close, reopen, purge), data-key rotation, the demo workspace."""
