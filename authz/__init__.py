"""Authorization: Casbin policies compiled into per-request decisions (record scopes, field effects, masks)."""
