from __future__ import annotations

import json
from dataclasses import asdict, replace
from pathlib import Path

import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from registries import local_registry

from registry.history import (
    LEGACY_PREFIX,
    MOVE_PREFIX,
    PURPOSE_TAG,
    SECTION_BEGIN,
    SECTION_END,
    AliasEvent,
    parse_line,
    read_history,
    record_events,
    rollback_of_batch,
    with_section,
)
from registry.release import Aliases, apply_promotion
from registry.rollback import describe_history, roll_back

SHA = "ab" * 32


@pytest.fixture
def client(tmp_path: Path):
    with local_registry(tmp_path, versions=3) as registry:
        yield registry


def event(**changes: object) -> AliasEvent:
    base = AliasEvent(
        at="2026-01-02T03:04:05.678901+00:00",
        action="promote",
        alias="production",
        from_version="1",
        to_version="2",
        actor="ci@runner (flow run 42)",
        reason="v2 beats v1 on roc_auc by +0.0120",
        batch=SHA,
    )
    return replace(base, **changes)


def history_tags(client: MlflowClient) -> dict[str, str]:
    tags = client.get_registered_model("m").tags
    return {k: v for k, v in tags.items() if k.startswith((MOVE_PREFIX, LEGACY_PREFIX))}


def legacy(client: MlflowClient, moved: AliasEvent) -> None:
    # As releases before the line format wrote it: the whole event as JSON.
    client.set_registered_model_tag("m", moved.legacy_key, json.dumps(asdict(moved)))


def test_each_move_is_one_tag_holding_a_readable_line(client) -> None:
    record_events(client, "m", [event()])
    [(key, value)] = history_tags(client).items()
    assert key == "driftloop.move.20260102T030405.678901Z.0.production"
    assert value == (
        f"promote production: 1 -> 2 at 2026-01-02T03:04:05.678901+00:00 batch {SHA} by "
        '"ci@runner (flow run 42)": v2 beats v1 on roc_auc by +0.0120'
    )
    assert read_history(client, "m") == [event()]


@pytest.mark.parametrize(
    "changes",
    [
        {"actor": 'eve: "by x": y', "reason": "a: b\nsecond line"},
        {"from_version": None, "batch": None, "seq": 1, "alias": "previous"},
        {"actor": "ünïcode\\user", "reason": ""},
    ],
)
def test_a_line_reads_back_as_the_same_event(changes: dict[str, object]) -> None:
    moved = event(**changes)
    assert parse_line(moved.key, moved.line) == moved


def test_a_tag_that_is_not_a_move_line_is_skipped(client) -> None:
    record_events(client, "m", [event()])
    client.set_registered_model_tag("m", f"{MOVE_PREFIX}edited.0.production", "hand-edited")
    assert read_history(client, "m") == [event()]


def _ours(description: str) -> list[str]:
    """The lines of driftloop's section of a registered model's description."""
    lines = description.splitlines()
    return lines[lines.index(SECTION_BEGIN) + 1 : lines.index(SECTION_END)]


def test_json_history_of_earlier_releases_is_read_and_kept(client) -> None:
    old = [event(action="challenger", alias="challenger", from_version=None, batch=None), event()]
    for moved in old:
        legacy(client, moved)
    assert read_history(client, "m") == old
    assert rollback_of_batch(client, "m", SHA, "production") is None
    newer = event(at="2026-01-03T00:00:00.000000+00:00", action="rollback", from_version="2")
    record_events(client, "m", [replace(newer, to_version="1", batch=None)])
    # A host still on an older release reads only the JSON tags: they stay.
    tags = history_tags(client)
    assert sorted(k.startswith(MOVE_PREFIX) for k in tags) == [False, False, True]
    assert [e.action for e in read_history(client, "m")] == ["challenger", "promote", "rollback"]
    undone = rollback_of_batch(client, "m", SHA, "production")
    assert undone is not None and undone.from_version == "2"


def test_a_move_kept_in_both_forms_counts_once(client) -> None:
    # A rewrite that stopped after the line was stored and before the JSON tag was deleted.
    legacy(client, event())
    client.set_registered_model_tag("m", event().key, event().line)
    assert read_history(client, "m") == [event()]


def test_the_description_says_what_it_predicts_and_where_each_alias_points_and_why(client) -> None:
    client.set_registered_model_tag("m", PURPOSE_TAG, "Predicts `rain` for <b>rainfall</b>.")
    aliases = Aliases()
    for version, against in (("1", None), ("2", "1")):
        apply_promotion(
            client,
            name="m",
            version=version,
            promote=True,
            reason=f"v{version} won [see](http://x)",
            evaluated_against=against,
            actor="ci@runner",
            batch=SHA,
            aliases=aliases,
        )
    roll_back(client, name="m", to_version=None, reason="alerts", actor="ops", aliases=aliases)
    lines = _ours(client.get_registered_model("m").description)
    assert lines[0] == "Predicts `rain` for \\<b>rainfall\\</b>."
    assert lines[2].startswith("- `production` is **v1**, rolled back ")
    assert lines[2].endswith("by `ops`: alerts")
    assert lines[3].startswith("- `challenger` is **v2**, made challenger ")
    assert lines[3].endswith(": v2 won \\[see](http://x)")
    assert lines[4].startswith("- `previous` is **v2**, moved when production was rolled back")
    assert "7 alias moves are recorded" in lines[-1]
    shown = describe_history(client, "m", "production")
    assert shown[-2] == "now: challenger -> v2, previous -> v2, production -> v1"


def test_the_description_gives_a_reason_once(client) -> None:
    apply_promotion(
        client,
        name="m",
        version="1",
        promote=True,
        reason="no champion: v1 clears the floor",
        evaluated_against=None,
        actor="ci",
        batch=SHA,
        aliases=Aliases(),
    )
    description = client.get_registered_model("m").description
    assert description.count("no champion: v1 clears the floor") == 1
    assert "- `challenger` is **v1**, made challenger " in description
    assert _ours(description)[1].endswith("by `ci`, for the reason above")


def test_what_the_owners_wrote_in_the_description_is_kept(client) -> None:
    client.update_registered_model("m", description="Owner: fraud team. Not for EU traffic.")
    for version in ("1", "2"):
        record_events(client, "m", [event(to_version=version, from_version=None)])
        description = client.get_registered_model("m").description
        assert description.startswith("Owner: fraud team. Not for EU traffic.\n\n")
        assert description.count(SECTION_BEGIN) == 1 and description.endswith(SECTION_END)


def test_a_description_that_cannot_be_written_does_not_fail_the_move(
    client, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise MlflowException("the store is read-only for descriptions")

    monkeypatch.setattr(client, "update_registered_model", refuse)
    record_events(client, "m", [event()])
    assert read_history(client, "m") == [event()]
    assert "could not refresh the description of m" in caplog.text


@pytest.mark.parametrize(
    "before",
    [
        f"Owner: fraud team.\n{SECTION_END}",  # its begin marker deleted by hand
        f"{SECTION_BEGIN}\nOwner: fraud team.",  # its end marker deleted by hand
    ],
)
def test_a_lone_marker_never_makes_the_description_grow(before: str) -> None:
    once = with_section(before, "- `production` is **v1**")
    assert with_section(once, "- `production` is **v2**") == with_section(
        before, "- `production` is **v2**"
    )
    assert once.count("production") == 1 and "Owner: fraud team." in once


def test_a_description_the_previous_release_wrote_is_replaced() -> None:
    old = (
        f"- `production` is **v3**, promoted\n\n2 alias moves are recorded as `{MOVE_PREFIX}*` tags"
    )
    assert with_section(old, "- `production` is **v4**") == (
        f"{SECTION_BEGIN}\n- `production` is **v4**\n{SECTION_END}"
    )
