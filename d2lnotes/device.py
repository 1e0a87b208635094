"""Devices and precision: where a run computes, and in which number format.

The seed's ``try_gpu``/``gpu``/``cpu``/``num_gpus`` are here under their names; ``try_gpu()`` is
also what every notebook calls for "the default device" (there is no second function for it).
The mixed-precision policy (:func:`amp_dtype`) and the context that applies it
(:func:`autocast`) live here too, so the training loop only asks "which dtype?".
"""
from __future__ import annotations

import contextlib
import platform

import torch


def gpu(i: int = 0) -> torch.device:
    """The ``i``-th GPU (it may not exist; see :func:`try_gpu`)."""
    return torch.device(f"cuda:{i}")


def cpu() -> torch.device:
    return torch.device("cpu")


def num_gpus() -> int:
    return torch.cuda.device_count()


def try_gpu(i: int = 0) -> torch.device:
    """``gpu(i)`` if it exists, otherwise ``cpu()``: the device every notebook trains on."""
    return gpu(i) if num_gpus() >= i + 1 else cpu()


def resolve_device(name: str | torch.device | None = None) -> torch.device:
    """The device called ``name`` (``cpu``, ``cuda``, ``cuda:N``), checked; None: :func:`try_gpu`.

    A clear ``ValueError`` for anything this course cannot train on: not a device, not a CPU
    or GPU, no CUDA, or a GPU number this machine does not have.
    """
    if name is None or name == "":
        return try_gpu()
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ValueError(f"device {name!r} is not a device: use cpu, cuda or cuda:N") from None
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"device {name!r}: this course trains on cpu or cuda")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {name}: CUDA is not available on this machine")
        if (device.index or 0) >= num_gpus():
            raise ValueError(f"device {name}: this machine has {num_gpus()} GPU(s), "
                             f"numbered from 0")
    return device


def device_name(device: torch.device | str) -> str:
    """A human name for the device: the GPU's model, or the CPU's."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    threads = torch.get_num_threads()
    return (f"CPU ({platform.processor() or platform.machine()}, {threads} "
            f"thread{'' if threads == 1 else 's'})")


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bfloat16 in hardware (AVX-512 BF16 or AMX tiles).

    Elsewhere bfloat16 is emulated and slower than float32, so autocast stays off there.
    """
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in checks)


def amp_dtype(device: torch.device | str, amp: bool | None = None) -> torch.dtype | None:
    """The autocast dtype for ``device``, or None for plain float32.

    ``amp=None`` (auto) turns mixed precision on where it pays for ResNet-18: on CUDA,
    bfloat16 where the GPU has it (Ampere and newer) and float16 with a gradient scaler on older
    GPUs such as Colab's T4; on a CPU, bfloat16 only when the CPU computes it natively
    (:func:`cpu_has_native_bf16`); elsewhere it is emulated and slower. ``amp=True`` forces it
    on (bfloat16 on a CPU), ``amp=False`` off. Small networks such as LeNet gain nothing, so
    the notebooks that train them pass ``amp=False``. The measurements behind this policy are
    in ``benchmarks/README.md``.
    """
    device = torch.device(device)
    if amp is False:
        return None
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if amp is None and not (device.type == "cpu" and cpu_has_native_bf16()):
        return None
    return torch.bfloat16


def autocast(device: torch.device, dtype: torch.dtype | None):
    """``torch.autocast`` for ``dtype``, or no context at all for float32.

    No context rather than a disabled one: older torch (2.1) rejects a disabled CPU autocast
    with a float32 dtype.
    """
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


def precision_name(dtype: torch.dtype | None) -> str:
    """``"float32"`` or ``"mixed precision bfloat16"``, as runs and checkpoints record it."""
    return "float32" if dtype is None else f"mixed precision {str(dtype).removeprefix('torch.')}"


def grad_scaler(device: torch.device, dtype: torch.dtype | None):
    """A gradient scaler for float16 (whose small gradients would underflow), else None."""
    if dtype != torch.float16:
        return None
    try:
        return torch.amp.GradScaler(device.type)
    except AttributeError:  # torch < 2.3
        return torch.cuda.amp.GradScaler()


def default_channels_last(device: torch.device) -> bool:
    """NHWC by default on GPUs only: tensor cores want it; on a CPU it depends on the chip and
    size (1.2x faster at 28 px on ours, slower elsewhere), so a run asks for it explicitly."""
    return torch.device(device).type == "cuda"


def to_device(X: torch.Tensor, device: torch.device, channels_last: bool = False) -> torch.Tensor:
    """Move a batch to ``device`` and, with ``channels_last``, into NHWC memory layout."""
    X = X.to(device, non_blocking=True)
    return X.contiguous(memory_format=torch.channels_last) if channels_last else X


def synchronize(device: torch.device) -> None:
    """Wait for the GPU to finish (clocks read after this are honest); nothing on a CPU."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
