"""Whether to compute in bfloat16: the one place that decides ``bf16 = "auto" | "true" | "false"``.

bfloat16 autocast is a speed-up only where the hardware multiplies bf16 natively: CUDA devices with bf16
support, and x86 CPUs with AVX-512-BF16 or AMX. Elsewhere it is emulated and slow (measured on an AVX2 CPU: a
training step 2.0 s in bf16 against 0.14-0.19 s in float32, paper-config separation 4.05 s against 0.53 s;
issue 15). ``"auto"`` turns it on exactly where it is native, and the decision is logged once per device.

The CPU test needs both the instruction-set flags and PyTorch's kernel capability: the flags say what the
chip can do, ``torch.backends.cpu.get_cpu_capability()`` says which kernels run (``ATEN_CPU_CAPABILITY=avx2``
makes an AVX-512 machine run, and here decide, like an AVX2-only one).
"""

from __future__ import annotations

import argparse
import logging

import torch

from pixelsound.config import ConfigError, parse_switch

log = logging.getLogger(__name__)

_logged: set[tuple[str, str, bool]] = set()


def cpu_flags() -> set[str]:
    """The CPU's bf16-related features that PyTorch detects (``avx512_bf16``, ``amx_bf16``)."""
    flags = set()
    if getattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)():
        flags.add("avx512_bf16")
    if getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)():
        flags.add("amx_bf16")
    return flags


def cpu_native_bf16(capability: str, flags: set[str]) -> bool:
    """True when CPU kernels compute bf16 natively: AVX-512 (or newer) kernels on a chip with AVX512-BF16/AMX.

    Args:
        capability: ``torch.backends.cpu.get_cpu_capability()``, e.g. "AVX2", "AVX512", "DEFAULT".
        flags: CPU features, as :func:`cpu_flags` gives them.
    """
    return capability.upper().startswith(("AVX512", "AMX")) and bool(flags & {"avx512_bf16", "amx_bf16"})


def native_bf16(device: torch.device | str) -> bool:
    """Whether ``device`` computes bfloat16 natively (CUDA with bf16, CPU per :func:`cpu_native_bf16`)."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported(including_emulation=False)
    if device.type == "cpu":
        return cpu_native_bf16(torch.backends.cpu.get_cpu_capability(), cpu_flags())
    return False


def use_bf16(setting: bool | str, device: torch.device | str) -> bool:
    """Decide whether to run under bfloat16 autocast on ``device``; logs the decision once per device.

    Args:
        setting: "auto" (on where native, see :func:`native_bf16`), "true"/True or "false"/False.
        device: where the computation runs.

    Raises:
        pixelsound.config.ConfigError: for a setting other than auto/true/false.
    """
    text = str(parse_switch(setting, "bf16"))
    device = torch.device(device)
    native = native_bf16(device)
    on = native if text == "auto" else text == "true"
    key = (text, device.type, on)
    if key not in _logged:
        _logged.add(key)
        cap = torch.backends.cpu.get_cpu_capability() if device.type == "cpu" else device.type
        why = "native bf16" if native else "no native bf16"
        state = "on" if on else "off"
        log.info("bf16=%s on %s (%s, %s): bfloat16 autocast %s", text, device.type, cap, why, state)
        if on and not native:
            log.warning("bf16 forced on where it is emulated (%s): expect it much slower than float32", cap)
    return on


def add_bf16_argument(parser: argparse.ArgumentParser) -> None:
    """``--bf16 {auto,true,false}`` (default auto; a bare ``--bf16`` means true), for every inference verb."""

    def setting(text: str) -> str:
        try:
            return str(parse_switch(text, "--bf16"))
        except ConfigError as err:
            raise argparse.ArgumentTypeError(str(err)) from None

    parser.add_argument(
        "--bf16",
        nargs="?",
        const="true",
        default="auto",
        type=setting,
        help="bfloat16 autocast: auto (default: on where the device computes bf16 natively), true or false",
    )
