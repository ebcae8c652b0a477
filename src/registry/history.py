"""Alias history: every move of a registry alias, kept as tags on the registered model.

MLflow keeps only where an alias points now. driftloop records each move (who, what, when, why,
from which version to which) as one registered-model tag holding one readable line, so the
history lives in the registry itself, next to the versions, whichever tracking server or
database holds them. The registered model's description says, in a few lines, what the model
predicts and where each alias points and why; it is rewritten from the registry after each move.

History written by earlier releases (one JSON tag per move, under `driftloop.history.`) is still
read, and rewritten as lines the next time a move is recorded.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from registry.card import code, prose

logger = logging.getLogger(__name__)

MOVE_PREFIX = "driftloop.move."
LEGACY_PREFIX = "driftloop.history."
# What the model predicts, in one sentence, set when a version is registered.
PURPOSE_TAG = "driftloop.predicts"
# The part of the registered model's description driftloop writes; the rest is its owners'.
SECTION_BEGIN = "<!-- driftloop: the lines below are rewritten on every alias move -->"
SECTION_END = "<!-- driftloop: end -->"
# Reasons are cut well below the registry's tag and description limits (5,000 characters).
MAX_REASON = 1500
SHOWN_REASON = 300
_VERBS = {
    "promote": "promoted",
    "rollback": "rolled back",
    "challenger": "made challenger",
    "candidate": "proposed for approval",
}
_LINE = re.compile(
    r"(?P<action>\S+) (?P<alias>\S+): (?P<from_version>\S+) -> (?P<to_version>\S+) "
    r"at (?P<at>\S+)(?: batch (?P<batch>\S+))? by "
)


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
        return f"{MOVE_PREFIX}{self._stamp}"

    @property
    def legacy_key(self) -> str:
        """The key the event had in the JSON history of earlier releases."""
        return f"{LEGACY_PREFIX}{self._stamp}"

    @property
    def line(self) -> str:
        """The tag value: the move in words, in a form `parse_line` reads back exactly.

        The actor is a JSON string, so that whatever it holds, the reason after it is found.
        """
        batch = f" batch {self.batch}" if self.batch else ""
        moved = f"{self.alias}: {self.from_version or '-'} -> {self.to_version}"
        by = json.dumps(self.actor, ensure_ascii=False)
        return f"{self.action} {moved} at {self.at}{batch} by {by}: {self.reason[:MAX_REASON]}"

    @property
    def _stamp(self) -> str:
        compact = self.at.replace("-", "").replace(":", "").replace("+0000", "Z")
        return f"{compact}.{self.seq}.{self.alias}"

    def __str__(self) -> str:
        """One line: when, what, the move, who and why."""
        moved = f"{self.alias}: {self.from_version or '-'} -> {self.to_version}"
        batch = f" [batch {self.batch[:12]}]" if self.batch else ""
        return f"{self.at}  {self.action:<10} {moved:<26} by {self.actor}{batch}: {self.reason}"


def parse_line(key: str, line: str) -> AliasEvent | None:
    """The event a move tag holds (None: not a line `AliasEvent.line` wrote)."""
    found = _LINE.match(line)
    seq = key.removeprefix(MOVE_PREFIX).split(".")[-2:-1]
    if found is None or not seq or not seq[0].isdigit():
        return None
    try:
        actor, end = json.JSONDecoder().raw_decode(line, found.end())
    except ValueError:
        return None
    if not isinstance(actor, str) or line[end : end + 2] != ": ":
        return None
    fields = found.groupdict()
    before = fields.pop("from_version")
    return AliasEvent(
        **fields,
        from_version=None if before == "-" else before,
        actor=actor,
        reason=line[end + 2 :],
        seq=int(seq[0]),
    )


def record_events(client: MlflowClient, name: str, events: list[AliasEvent]) -> None:
    """Write alias events to the registered model (rewriting one that exists is harmless).

    Then refresh the model's description, best effort: the moves are what a release needs, and
    a description that could not be written is rewritten by the next move.
    """
    for event in events:
        client.set_registered_model_tag(name, event.key, event.line)
    try:
        describe_registered_model(client, name)
    except MlflowException as exc:
        logger.warning("could not refresh the description of %s: %s", name, exc)


def read_history(client: MlflowClient, name: str) -> list[AliasEvent]:
    """Every recorded alias move of the model, oldest first (both the lines and legacy JSON)."""
    return _events(client.get_registered_model(name).tags)


def describe_registered_model(client: MlflowClient, name: str) -> None:
    """Describe the model from the registry: what it predicts, where each alias points and why.

    Only the part between driftloop's markers is driftloop's: what anyone else wrote in the
    description is kept as it is. Legacy JSON history tags are read, never removed (a host
    still on an older release reads only those).
    """
    model = client.get_registered_model(name)
    tags = dict(model.tags)
    aliases = {alias: str(version) for alias, version in model.aliases.items()}
    ours = describe_model(_events(tags), aliases, tags.get(PURPOSE_TAG))
    description = with_section(model.description or "", ours)
    if description != (model.description or ""):
        client.update_registered_model(name, description=description)


def with_section(description: str, section: str) -> str:
    """`description` with driftloop's marked section replaced by `section` (or added last)."""
    marked = f"{SECTION_BEGIN}\n{section}\n{SECTION_END}"
    start = description.find(SECTION_BEGIN)
    end = description.find(SECTION_END, start) if start != -1 else -1
    if end != -1:
        return description[:start] + marked + description[end + len(SECTION_END) :]
    # A marker left alone (one of the pair deleted) is dropped, so sections never pile up; a
    # whole description the previous release wrote (no markers, its closing line) is replaced.
    kept = description.replace(SECTION_BEGIN, "").replace(SECTION_END, "").rstrip()
    if f"`{MOVE_PREFIX}*` tags" in kept:
        kept = ""
    return f"{kept}\n\n{marked}" if kept else marked


def describe_model(events: list[AliasEvent], aliases: dict[str, str], purpose: str | None) -> str:
    """The registered model's description (markdown): what it predicts, each alias and why.

    Args:
        events: The alias history, oldest first.
        aliases: Where each alias points now (alias -> version).
        purpose: What the model predicts, in one sentence (None: not known).

    Returns:
        A few lines: the purpose, one per alias (the move that put it there), where the
        history is.
    """
    lines = [prose(purpose), ""] if purpose else []
    shown: set[str] = set()  # reasons given already
    for alias in sorted(aliases, key=lambda a: (a != "production", a)):
        version = aliases[alias]
        moved = [e for e in events if e.alias == alias and e.to_version == version]
        how = _how(moved[-1], shown) if moved else ""
        lines.append(f"- {code(alias)} is **v{version}**{how}")
    if events:
        lines += [
            "",
            f"{len(events)} alias moves are recorded as `{MOVE_PREFIX}*` tags; "
            "`driftloop history` lists them.",
        ]
    return "\n".join(lines)


def _how(event: AliasEvent, shown: set[str]) -> str:
    when = f"{event.at[:16].replace('T', ' ')} UTC by {code(event.actor)}"
    verb = _VERBS.get(event.action, event.action)
    if event.seq:  # moved along with production: the reason is that move's
        return f", moved when production was {verb} ({when})"
    if event.reason in shown:
        return f", {verb} {when}, for the reason above"
    shown.add(event.reason)
    cut = event.reason[:SHOWN_REASON] + ("..." if len(event.reason) > SHOWN_REASON else "")
    return f", {verb} {when}: {prose(cut)}"


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


def _events(tags: dict[str, str]) -> list[AliasEvent]:
    found: dict[str, AliasEvent] = {}
    for key, value in tags.items():
        event = parse_line(key, value) if key.startswith(MOVE_PREFIX) else _legacy_event(key, value)
        if event is None:
            if key.startswith((MOVE_PREFIX, LEGACY_PREFIX)):
                logger.warning("history tag %s is not an alias move (edited?): skipped", key)
            continue
        found.setdefault(event.key, event)
    return sorted(found.values(), key=lambda e: (e.at, e.seq))


def _legacy_event(key: str, value: str) -> AliasEvent | None:
    if not key.startswith(LEGACY_PREFIX):
        return None
    try:
        event = AliasEvent(**json.loads(value))
    except (ValueError, TypeError):
        return None
    return event
