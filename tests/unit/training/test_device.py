from __future__ import annotations

import logging
import stat

import pytest

from training import device
from training.device import choose_device, resolve_device


@pytest.mark.parametrize(
    ("requested", "built", "visible", "expected"),
    [
        ("auto", True, True, "cuda"),
        ("auto", True, False, "cpu"),
        ("auto", False, True, "cpu"),
        ("cpu", True, True, "cpu"),
        ("cuda", False, False, "cuda"),
    ],
)
def test_auto_picks_cuda_only_with_a_cuda_build_and_a_visible_gpu(
    requested, built, visible, expected
) -> None:
    assert choose_device(requested, cuda_built=built, gpu_visible=visible) == expected


def test_resolve_auto_probes_the_machine_and_logs_the_choice(monkeypatch, caplog) -> None:
    monkeypatch.setattr(device, "xgboost_has_cuda", lambda: True)
    monkeypatch.setattr(device, "gpu_is_visible", lambda: True)
    with caplog.at_level(logging.INFO, logger="training.device"):
        assert resolve_device("auto") == "cuda"
    assert [r.getMessage() for r in caplog.records] == [
        "training device cuda (auto: XGBoost built with CUDA True, GPU visible True)"
    ]
    monkeypatch.setattr(device, "gpu_is_visible", lambda: False)
    assert resolve_device("auto") == "cpu"


def test_an_explicit_device_is_used_without_probing(monkeypatch, caplog) -> None:
    def probe() -> bool:
        raise AssertionError("probed")

    monkeypatch.setattr(device, "xgboost_has_cuda", probe)
    monkeypatch.setattr(device, "gpu_is_visible", probe)
    with caplog.at_level(logging.INFO, logger="training.device"):
        assert resolve_device("cpu") == "cpu"
        assert resolve_device("cuda") == "cuda"
    assert len(caplog.records) == 2 and "set explicitly" in caplog.records[0].getMessage()


def test_cuda_build_is_read_from_xgboost_build_info(monkeypatch) -> None:
    monkeypatch.setattr(device.xgb, "build_info", lambda: {"USE_CUDA": False})
    assert not device.xgboost_has_cuda()
    monkeypatch.setattr(device.xgb, "build_info", lambda: {})
    assert not device.xgboost_has_cuda()
    monkeypatch.setattr(device.xgb, "build_info", lambda: {"USE_CUDA": True})
    assert device.xgboost_has_cuda()


def _fake_smi(tmp_path, script: str):
    path = tmp_path / "nvidia-smi"
    path.write_text(f"#!/bin/sh\n{script}\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return str(path)


def test_gpu_is_visible_when_nvidia_smi_lists_one(tmp_path) -> None:
    smi = _fake_smi(tmp_path, 'echo "GPU 0: NVIDIA H100 (UUID: GPU-1)"')
    assert device._gpu_is_visible(None, smi, tmp_path / "none")


@pytest.mark.parametrize(
    "script", ["echo 'No devices found.'", "echo 'GPU 0: x'; exit 9", "sleep 5"]
)
def test_no_gpu_when_nvidia_smi_lists_none_fails_or_hangs(tmp_path, monkeypatch, script) -> None:
    monkeypatch.setattr(device, "SMI_TIMEOUT_SECONDS", 0.5)
    assert not device._gpu_is_visible(None, _fake_smi(tmp_path, script), tmp_path)


def test_an_unrunnable_nvidia_smi_means_no_gpu(tmp_path) -> None:
    assert not device._gpu_is_visible(None, str(tmp_path / "missing-smi"), tmp_path)


def test_without_nvidia_smi_the_driver_gpu_list_decides(tmp_path) -> None:
    gpus = tmp_path / "gpus"
    assert not device._gpu_is_visible(None, None, gpus)
    gpus.mkdir()
    assert not device._gpu_is_visible(None, None, gpus)
    (gpus / "0000:00:1e.0").mkdir()
    assert device._gpu_is_visible(None, None, gpus)


@pytest.mark.parametrize("hidden", ["", "-1", " "])
def test_cuda_visible_devices_can_hide_every_gpu(tmp_path, hidden) -> None:
    smi = _fake_smi(tmp_path, 'echo "GPU 0: NVIDIA H100"')
    assert not device._gpu_is_visible(hidden, smi, tmp_path)
    assert device._gpu_is_visible("0", smi, tmp_path)
