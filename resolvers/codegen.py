"""`FunctionSource`: a Python function written as source and compiled once, for the compiled read path's hot loops.

Written the way `dataclasses` writes `__init__`: the source holds only names this class makes, the parameters,
integers and fixed text of the caller's own; every other value (field names, audit names, readers, masks) is
bound to a made-up name in the function's globals with `const`, so no data ever becomes code.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class FunctionSource:
    def __init__(self, **names: Any) -> None:
        self.names: dict[str, Any] = dict(names)
        self.lines: list[str] = []

    def const(self, value: Any) -> str:
        """A name bound to `value` in the function's globals."""
        name = f"c{len(self.names)}"
        self.names[name] = value
        return name

    def add(self, *lines: str) -> None:
        self.lines.extend(lines)

    def compile(self, name: str, parameters: str) -> Callable[..., Any]:
        source = f"def {name}({parameters}):\n" + "".join(f"    {line}\n" for line in self.lines)
        exec(compile(source, f"<{name}>", "exec"), self.names)
        function: Callable[..., Any] = self.names[name]
        return function
