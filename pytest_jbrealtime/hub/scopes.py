"""What a hub token may reach: one run, a project (a run-id prefix), or (viewers) all.

A hub shared by several teams signs every token with its one secret; the token's own
claims say which runs it is for (``python -m pytest_jbrealtime token --run R`` or
``--project team-a-``). A producer token must name one: it may join (and so publish
events and screenshots into) only runs it names. A viewer token that names one sees only
those runs; one that names none (the link the hub prints) sees every run. docs/security.md
has the model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class TokenScope:
    run: str | None = None
    project: str | None = None

    @classmethod
    def of(cls, claims: dict[str, Any]) -> TokenScope:
        run, project = claims.get("run"), claims.get("project")
        return cls(run if isinstance(run, str) else None,
                   project if isinstance(project, str) else None)

    @property
    def named(self) -> bool:
        """Whether the token names its runs (a producer token must)."""
        return self.run is not None or self.project is not None

    def allows(self, run_id: str) -> bool:
        if self.run is not None:
            return run_id == self.run
        if self.project is not None:
            return run_id.startswith(self.project)
        return True

    def describe(self) -> str:
        if self.run is not None:
            return f"run {self.run!r}"
        if self.project is not None:
            return f"runs whose id starts with {self.project!r}"
        return "every run"


def token_key(claims: dict[str, Any]) -> str:
    """One token's identity, for what is counted per token (its live runs)."""
    return f"{claims.get('sub')}|{claims.get('iat')}|{claims.get('run')}|{claims.get('project')}"
