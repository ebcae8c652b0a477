"""What a training run is asked for: XGBoost hyperparameters, the split and the tuning budget."""

from __future__ import annotations

from dataclasses import dataclass

from training.device import DeviceRequest


@dataclass(frozen=True)
class TrainingParams:
    """XGBoost hyperparameters, the split, and the tuning budget (tuning_trials 0: no tuning).

    `n_jobs` 0 means every core this process may use; `device` "auto" trains on the GPU when
    XGBoost has CUDA support and a GPU is visible.
    """

    n_estimators: int = 300
    max_depth: int = 6
    learning_rate: float = 0.05
    early_stopping_rounds: int = 30
    holdout_fraction: float = 0.2
    seed: int = 42
    n_jobs: int = 0
    tuning_trials: int = 0
    tuning_timeout_seconds: float = 60.0
    tuning_jobs: int = 0
    tuning_min_rows: int = 1000
    device: DeviceRequest = "auto"
