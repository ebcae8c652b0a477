from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from config.errors import ConfigError, SettingsError
from config.settings import Settings, load_settings
from config.spec import DatasetSpec
from factories import spec_for_frames
from model_monitoring.policy import PolicyRules
from pipeline import params
from runs.batches import copy_batches


def test_a_replay_writes_under_its_folder_and_tells_nobody(tmp_path: Path) -> None:
    settings = Settings()
    settings.github.token = SecretStr("ghp_real_token")
    settings.notify.webhook_url = SecretStr("https://hooks.example/T0/B0/secret")
    replay = params.replay_settings(settings, tmp_path, "never")
    assert replay.github.token is None and replay.notify.webhook_url is None
    assert replay.policy.name == "never"
    assert replay.mlflow.tracking_uri == f"sqlite:///{tmp_path / 'mlflow.db'}"
    for path in (replay.paths.ledger, replay.paths.reports, replay.paths.gx_root):
        assert path.is_relative_to(tmp_path)
    assert settings.github.token is not None  # the original settings are untouched


def test_batches_are_copied_never_moved(tmp_path: Path) -> None:
    source = tmp_path / "in"
    source.mkdir()
    (source / "b-01.csv").write_text("x\n1\n")
    copies = copy_batches(source, tmp_path / "out")
    assert [p.name for p in copies] == ["b-01.csv"] and (source / "b-01.csv").exists()


def test_settings_choose_the_device_from_the_environment(monkeypatch) -> None:
    assert params.training_params(load_settings()).device == "auto"
    monkeypatch.setenv("DRIFTLOOP_TRAINING__DEVICE", "cpu")
    assert params.training_params(load_settings()).device == "cpu"
    monkeypatch.setenv("DRIFTLOOP_TRAINING__DEVICE", "tpu")
    with pytest.raises(SettingsError, match="DRIFTLOOP_TRAINING__DEVICE"):
        load_settings()


def test_settings_turn_tuning_on_from_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("DRIFTLOOP_TRAINING__TUNING_TRIALS", "7")
    monkeypatch.setenv("DRIFTLOOP_TRAINING__TUNING_MIN_ROWS", "0")
    built = params.training_params(load_settings())
    assert built.tuning_trials == 7 and built.tuning_min_rows == 0
    assert built.tuning_jobs == 0 and built.tuning_timeout_seconds > 0


def test_the_default_retrain_policy_is_the_rules_own_defaults(monkeypatch) -> None:
    spec = DatasetSpec.model_validate(spec_for_frames("toy", "r.parquet", "in"))
    assert params.retrain_rules(load_settings(), spec) == PolicyRules()
    monkeypatch.setenv("DRIFTLOOP_POLICY__NAME", "drift-only")
    monkeypatch.setenv("DRIFTLOOP_POLICY__COOLDOWN", "4")
    monkeypatch.setenv("DRIFTLOOP_TRAINING__WINDOW_BATCHES", "5")
    rules = params.retrain_rules(load_settings(), spec)
    assert (rules.signals, rules.cooldown, rules.full_window) == (("drift",), 4, 5)


def test_the_promotion_rule_takes_the_metrics_default_floor(monkeypatch) -> None:
    spec = DatasetSpec.model_validate(spec_for_frames("toy", "r.parquet", "in"))
    rule = params.promotion_rule(load_settings(), spec)
    assert (rule.metric, rule.floor) == ("roc_auc", 0.55)
    monkeypatch.setenv("DRIFTLOOP_PROMOTION__FLOOR", "0.7")
    assert params.promotion_rule(load_settings(), spec).floor == 0.7


def test_drops_and_margins_are_relative_for_regression_unless_set(monkeypatch) -> None:
    binary = DatasetSpec.model_validate(spec_for_frames("toy", "r.parquet", "in"))
    regression = DatasetSpec.model_validate(spec_for_frames("toy", "r.parquet", "in", "regression"))
    settings = load_settings()
    assert not params.retrain_rules(settings, binary).relative
    assert params.retrain_rules(settings, regression).relative
    assert params.promotion_rule(settings, regression).relative
    monkeypatch.setenv("DRIFTLOOP_POLICY__RELATIVE", "false")
    monkeypatch.setenv("DRIFTLOOP_PROMOTION__RELATIVE", "true")
    settings = load_settings()
    assert not params.retrain_rules(settings, regression).relative
    assert params.promotion_rule(settings, binary).relative


def test_a_scoring_run_reads_only_files_inside_the_project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "project"
    (project / "data").mkdir(parents=True)
    (tmp_path / "secret.csv").write_text("a\n1\n")
    (project / "data" / "link.csv").symlink_to(tmp_path / "secret.csv")
    monkeypatch.chdir(project)
    settings = Settings()

    assert params.scored_batch_path(settings, "data/to-score.csv") == Path("data/to-score.csv")
    for outside in (str(tmp_path / "secret.csv"), "../secret.csv", "data/link.csv"):
        with pytest.raises(ConfigError, match="outside the project"):
            params.scored_batch_path(settings, outside)
    allowed = settings.model_copy(
        update={"paths": settings.paths.model_copy(update={"allow_outside_project": True})}
    )
    assert params.scored_batch_path(allowed, "../secret.csv") == Path("../secret.csv")
