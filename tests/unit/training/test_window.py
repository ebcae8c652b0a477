from __future__ import annotations

import numpy as np

from factories import make_frame
from training.calibration import fit_calibration
from training.window import file_weights, select_window

FILES = ["reference", "b1", "b2", "b3", "b4"]


def test_windows_select_files() -> None:
    assert select_window(FILES, window="all", batches=2) == FILES
    assert select_window(FILES, window="last_k", batches=2) == ["b3", "b4"]
    assert select_window(FILES, window="decay", batches=2) == FILES


def test_decay_halves_the_weight_every_half_life() -> None:
    assert file_weights(3, window="decay", half_life=1.0) == [0.25, 0.5, 1.0]
    assert file_weights(3, window="last_k", half_life=1.0) == [1.0, 1.0, 1.0]


def test_calibration_maps_overconfident_scores_to_observed_rates() -> None:
    rng = np.random.default_rng(0)
    truth = rng.random(5000)
    labels = (rng.random(5000) < truth).astype(int)
    overconfident = np.clip(truth * 1.6 - 0.3, 0, 1)
    calibration = fit_calibration(overconfident, labels)
    assert calibration is not None
    calibrated = np.interp(overconfident, calibration["x"], calibration["y"])
    assert abs(calibrated.mean() - labels.mean()) < 0.01


def test_calibration_needs_both_classes_and_enough_rows() -> None:
    assert fit_calibration(np.full(100, 0.3), np.zeros(100)) is None
    assert fit_calibration(make_frame(10).x1.to_numpy(), np.r_[np.zeros(5), np.ones(5)]) is None
