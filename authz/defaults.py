"""Default roles and policies of a new workspace, read from `default_policy.csv` beside this module."""

from __future__ import annotations

from pathlib import Path

from authz.rules import Effect, Rule

DEFAULT_POLICY_FILE = Path(__file__).with_name("default_policy.csv")
MODEL_FILE = Path(__file__).with_name("model.conf")
DEFAULT_ROLES = ("admin", "manager", "sales", "support", "marketing")
ADMIN_ROLE = "admin"


def default_rules() -> list[Rule]:
    rules: list[Rule] = []
    for line in DEFAULT_POLICY_FILE.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        ptype, role, resource, action, effect, scope = (part.strip() for part in line.split(","))
        assert ptype == "p", line
        rules.append(Rule(role, resource, action, Effect(effect), scope))
    return rules
