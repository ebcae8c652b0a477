"""`driftloop demo --dataset`: the rainfall demo stays the default, the reviews demo is named."""

from __future__ import annotations

import pytest

from demo_data import DEMO_DATASETS
from pipeline.cli import build_parser


def test_the_rainfall_demo_is_the_default() -> None:
    assert build_parser().parse_args(["demo"]).dataset == "rainfall"


def test_the_reviews_demo_is_chosen_by_name() -> None:
    args = build_parser().parse_args(["-q", "demo", "--dataset", "reviews", "--yes"])
    assert (args.command, args.dataset, args.yes) == ("demo", "reviews", True)


def test_an_unknown_demo_is_a_usage_error_naming_the_choices(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as stop:
        build_parser().parse_args(["demo", "--dataset", "weather"])
    assert stop.value.code == 2
    assert "invalid choice: 'weather'" in capsys.readouterr().err


def test_the_demo_help_names_every_demo_and_shows_the_reviews_example(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["demo", "--help"])
    shown = capsys.readouterr().out
    assert "driftloop demo --dataset reviews" in shown
    assert all(name in shown for name in DEMO_DATASETS)
