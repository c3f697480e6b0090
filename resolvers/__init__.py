"""Business rules per capability. They take a session and a caller, ask `authz`, and never import Strawberry."""
