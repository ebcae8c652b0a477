"""Choose where XGBoost trains: the GPU when this XGBoost can use one and one is visible."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path
from typing import Literal

import xgboost as xgb

logger = logging.getLogger(__name__)

DeviceRequest = Literal["auto", "cpu", "cuda"]
Device = Literal["cpu", "cuda"]
NVIDIA_GPUS = Path("/proc/driver/nvidia/gpus")
# `nvidia-smi -L` answers in well under a second; a hung driver must not stall a retrain.
SMI_TIMEOUT_SECONDS = 10.0


def choose_device(requested: DeviceRequest, *, cuda_built: bool, gpu_visible: bool) -> Device:
    """Resolve a device request: "auto" is "cuda" only with a CUDA build and a visible GPU.

    An explicit request is kept as is: "cuda" without a usable GPU makes XGBoost warn (and fall
    back to the CPU), which says more than a silent change here would.
    """
    if requested != "auto":
        return requested
    return "cuda" if cuda_built and gpu_visible else "cpu"


def resolve_device(requested: DeviceRequest) -> Device:
    """Probe the machine (only for "auto") and resolve the request; logs the choice."""
    if requested != "auto":
        logger.info("training device %s (set explicitly)", requested)
        return requested
    built, visible = xgboost_has_cuda(), gpu_is_visible()
    device = choose_device(requested, cuda_built=built, gpu_visible=visible)
    logger.info(
        "training device %s (auto: XGBoost built with CUDA %s, GPU visible %s)",
        device,
        built,
        visible,
    )
    return device


def xgboost_has_cuda() -> bool:
    """Whether the installed XGBoost was built with CUDA support."""
    return bool(xgb.build_info().get("USE_CUDA", False))


@lru_cache(maxsize=1)
def gpu_is_visible() -> bool:
    """Whether this process can see an NVIDIA GPU; cached, and never raises.

    CUDA_VISIBLE_DEVICES set to nothing (or -1) hides every GPU. Otherwise `nvidia-smi -L`
    decides when it is installed, else the driver's list of GPUs under /proc.
    """
    return _gpu_is_visible(os.environ.get("CUDA_VISIBLE_DEVICES"), shutil.which("nvidia-smi"))


def _gpu_is_visible(visible_devices: str | None, smi: str | None, gpus: Path = NVIDIA_GPUS) -> bool:
    if visible_devices is not None and visible_devices.strip() in {"", "-1"}:
        return False
    if smi is not None:
        return _smi_lists_a_gpu(smi)
    try:
        return gpus.is_dir() and any(gpus.iterdir())
    except OSError:
        return False


def _smi_lists_a_gpu(smi: str) -> bool:
    try:
        done = subprocess.run(
            [smi, "-L"], capture_output=True, text=True, timeout=SMI_TIMEOUT_SECONDS, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0 and "GPU" in done.stdout
