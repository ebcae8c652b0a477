"""Alias history: every move of a registry alias, kept as tags on the registered model.

MLflow keeps only where an alias points now. driftloop records each move (who, what, when, why,
from which version to which) as a registered-model tag, so the history lives in the registry
itself, next to the versions, whichever tracking server or database holds them.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

HISTORY_PREFIX = "driftloop.history."
# The registry stores tag values of up to 5,000 characters; reasons are cut well below that.
MAX_REASON = 1500


@dataclass(frozen=True)
class AliasEvent:
    """One alias move."""

    at: str
    action: str
    alias: str
    from_version: str | None
    to_version: str
    actor: str
    reason: str
    batch: str | None = None
    seq: int = 0

    @property
    def key(self) -> str:
        """The tag key: the same event always gets the same key, so recording is idempotent."""
        compact = self.at.replace("-", "").replace(":", "").replace("+0000", "Z")
        return f"{HISTORY_PREFIX}{compact}.{self.seq}.{self.alias}"

    def __str__(self) -> str:
        """One line: when, what, the move, who and why."""
        moved = f"{self.alias}: {self.from_version or '-'} -> {self.to_version}"
        batch = f" [batch {self.batch[:12]}]" if self.batch else ""
        return f"{self.at}  {self.action:<10} {moved:<26} by {self.actor}{batch}: {self.reason}"


def record_events(client: MlflowClient, name: str, events: list[AliasEvent]) -> None:
    """Write alias events to the registered model (rewriting one that exists is harmless)."""
    for event in events:
        value = asdict(event) | {"reason": event.reason[:MAX_REASON]}
        client.set_registered_model_tag(name, event.key, json.dumps(value, sort_keys=True))


def read_history(client: MlflowClient, name: str) -> list[AliasEvent]:
    """Every recorded alias move of the model, oldest first."""
    tags = client.get_registered_model(name).tags
    events = [AliasEvent(**json.loads(v)) for k, v in tags.items() if k.startswith(HISTORY_PREFIX)]
    return sorted(events, key=lambda e: (e.at, e.seq))


def rollback_of_batch(
    client: MlflowClient, name: str, batch: str, production_alias: str
) -> AliasEvent | None:
    """The rollback that took `production` away from a version trained on `batch` (None: none).

    An operator's rollback is a verdict on that batch's model: a run that finds the batch
    unfinished (its process died after the release) must not train and release it again.
    """
    try:
        events = read_history(client, name)
    except MlflowException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            return None
        raise
    moves = [e for e in events if e.alias == production_alias]
    released = {e.to_version for e in moves if e.action == "promote" and e.batch == batch}
    undone = [e for e in moves if e.action == "rollback" and e.from_version in released]
    return undone[-1] if undone else None
