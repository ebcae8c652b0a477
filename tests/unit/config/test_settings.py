from __future__ import annotations

import pytest

from config.errors import SettingsError
from config.settings import load_settings, redact_credentials, redact_url


def test_defaults_are_local_first() -> None:
    settings = load_settings()
    assert settings.mlflow.tracking_uri == "sqlite:///mlflow.db"
    assert str(settings.mlflow.artifact_root) == "mlartifacts"
    assert str(settings.paths.reports) == "reports"
    assert settings.github.token is None


def test_nested_values_come_from_prefixed_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRIFTLOOP_DRIFT__SHARE_THRESHOLD", "0.3")
    monkeypatch.setenv("DRIFTLOOP_GITHUB__TOKEN", "ghp_secret")
    settings = load_settings()
    assert settings.drift.share_threshold == 0.3
    assert settings.github.token is not None
    assert "ghp_secret" not in repr(settings)


def test_invalid_value_names_the_env_var_and_the_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRIFTLOOP_DRIFT__SHARE_THRESHOLD", "1.7")
    monkeypatch.setenv("DRIFTLOOP_GITHUB__REPO", "no-slash")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert "DRIFTLOOP_DRIFT__SHARE_THRESHOLD='1.7'" in message
    assert "less than or equal to 1" in message
    assert "DRIFTLOOP_GITHUB__REPO" in message and "OWNER/NAME" in message


def test_settings_read_dotenv_file(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".env").write_text("DRIFTLOOP_PROMOTION__MIN_IMPROVEMENT=0.02\n")
    monkeypatch.chdir(tmp_path)
    assert load_settings().promotion.min_improvement == 0.02


def test_relative_paths_may_not_climb_out_of_the_project(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRIFTLOOP_PATHS__QUARANTINE", "../../tmp/elsewhere")
    with pytest.raises(SettingsError, match=r"DRIFTLOOP_PATHS__QUARANTINE=.*'\.\.'"):
        load_settings()
    monkeypatch.setenv("DRIFTLOOP_PATHS__QUARANTINE", "/var/driftloop/quarantine")
    assert str(load_settings().paths.quarantine) == "/var/driftloop/quarantine"


def test_a_misspelled_variable_is_refused_with_the_closest_name(monkeypatch) -> None:
    monkeypatch.setenv("DRIFTLOOP_DRIFT__SHARE_TRESHOLD", "0.3")
    with pytest.raises(SettingsError, match="did you mean DRIFTLOOP_DRIFT__SHARE_THRESHOLD"):
        load_settings()


def test_an_unknown_variable_in_dotenv_is_refused_and_names_the_file(tmp_path, monkeypatch) -> None:
    (tmp_path / ".env").write_text("DRIFTLOOP_TRAINING__N_ESTIMATOR=10\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert ".env" in str(caught.value) and "DRIFTLOOP_TRAINING__N_ESTIMATORS" in str(caught.value)


def test_sections_lower_case_names_and_the_project_folder_are_accepted(monkeypatch) -> None:
    monkeypatch.setenv("DRIFTLOOP_PROMOTION", '{"min_improvement": 0.01}')
    monkeypatch.setenv("driftloop_drift__alpha", "0.1")
    monkeypatch.setenv("DRIFTLOOP_PROJECT_DIR", "/srv/driftloop")
    settings = load_settings()
    assert settings.promotion.min_improvement == 0.01 and settings.drift.alpha == 0.1


def test_a_drift_method_evidently_cannot_use_for_the_kind_is_refused(monkeypatch) -> None:
    monkeypatch.setenv("DRIFTLOOP_DRIFT__CATEGORICAL_METHOD", "wasserstein")
    with pytest.raises(SettingsError, match=r"DRIFTLOOP_DRIFT__CATEGORICAL_METHOD.*'chisquare'"):
        load_settings()


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DRIFTLOOP_GITHUB__API_URL", "http://api.github.example"),
        ("DRIFTLOOP_GITHUB__API_URL", "ftp://127.0.0.1/"),
        ("DRIFTLOOP_NOTIFY__WEBHOOK_URL", "http://hooks.slack.example/services/T0/B0/secret"),
    ],
)
def test_a_token_or_secret_url_only_travels_over_https(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError, match=r"must be https://") as caught:
        load_settings()
    assert "secret" not in str(caught.value)


def test_plain_http_is_allowed_to_this_machine_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRIFTLOOP_GITHUB__API_URL", "http://127.0.0.1:8123")
    monkeypatch.setenv("DRIFTLOOP_NOTIFY__WEBHOOK_URL", "http://localhost:9/hook")
    assert load_settings().github.api_url == "http://127.0.0.1:8123"


def test_passwords_in_urls_are_redacted_wherever_they_are_quoted() -> None:
    text = "cannot reach postgresql://mlflow:s3cr3t@db.internal:5432/mlflow (timeout)"
    assert redact_credentials(text) == (
        "cannot reach postgresql://mlflow:***@db.internal:5432/mlflow (timeout)"
    )
    assert redact_url("https://user:pw@host/x") == "https://user:***@host/x"
    assert redact_url("sqlite:///mlflow.db") == "sqlite:///mlflow.db"


def test_mlflows_own_tracking_uri_applies_unless_driftloops_is_given(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    assert load_settings().mlflow.tracking_uri == "http://127.0.0.1:5000"
    monkeypatch.setenv("DRIFTLOOP_MLFLOW__TRACKING_URI", "sqlite:///team.db")
    assert load_settings().mlflow.tracking_uri == "sqlite:///team.db"
