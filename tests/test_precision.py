"""bf16 = "auto": on exactly where the device computes bfloat16 natively; true/false as before."""

import argparse
import logging

import pytest
import torch

from pixelsound import precision
from pixelsound.config import ConfigError, load_config, replace


@pytest.mark.parametrize(
    "capability, flags, native",
    [
        ("AVX512", {"avx512_bf16"}, True),  # Cooper Lake, Zen 4
        ("AVX512", {"amx_bf16", "avx512_bf16"}, True),  # Sapphire Rapids and later
        ("AVX512", set(), False),  # Skylake-X: AVX-512 without bf16
        ("AVX2", {"avx512_bf16", "amx_bf16"}, False),  # kernels limited to AVX2 (ATEN_CPU_CAPABILITY=avx2)
        ("AVX2", set(), False),
        ("DEFAULT", set(), False),
    ],
)
def test_cpu_decision_on_capabilities(capability, flags, native):
    assert precision.cpu_native_bf16(capability, flags) is native


def _mock_cpu(monkeypatch, capability, flags):
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: capability)
    monkeypatch.setattr(precision, "cpu_flags", lambda: set(flags))


def test_auto_follows_the_device_and_explicit_settings_win(monkeypatch):
    _mock_cpu(monkeypatch, "AVX2", set())
    assert precision.use_bf16("auto", "cpu") is False
    assert precision.use_bf16(True, "cpu") is True and precision.use_bf16("true", "cpu") is True
    _mock_cpu(monkeypatch, "AVX512", {"amx_bf16"})
    assert precision.use_bf16("auto", "cpu") is True
    assert precision.use_bf16(False, "cpu") is False and precision.use_bf16("false", "cpu") is False
    assert precision.use_bf16("auto", "meta") is False  # no native bf16 known for other devices
    with pytest.raises(ConfigError, match="expected auto, true or false"):
        precision.use_bf16("maybe", "cpu")


def test_decision_logged_once_per_device(monkeypatch, caplog):
    _mock_cpu(monkeypatch, "AVX2", set())
    monkeypatch.setattr(precision, "_logged", set())
    with caplog.at_level(logging.INFO, logger="pixelsound.precision"):
        for _ in range(3):
            precision.use_bf16("auto", "cpu")
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and "AVX2" in lines[0] and "off" in lines[0]


def test_avx2_emulation_turns_auto_off():
    """ATEN_CPU_CAPABILITY=avx2 makes this process decide like an AVX2-only CPU, whatever the chip."""
    import subprocess
    import sys

    code = "from pixelsound.precision import native_bf16; print(native_bf16('cpu'))"
    env = {"ATEN_CPU_CAPABILITY": "avx2", "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_config_parses_auto_and_booleans(tmp_path):
    assert load_config().train.bf16 == "auto"
    (tmp_path / "r.toml").write_text("[train]\nbf16 = true\n")
    assert load_config(tmp_path / "r.toml").train.bf16 == "true"
    (tmp_path / "r.toml").write_text('[train]\nbf16 = "auto"\n')
    assert load_config(tmp_path / "r.toml").train.bf16 == "auto"
    assert load_config(None, ["train.bf16=False"]).train.bf16 == "false"
    assert replace(load_config(), train={"bf16": True}).train.bf16 == "true"  # old configs stored booleans
    with pytest.raises(ConfigError, match="train.bf16: expected auto, true or false"):
        load_config(None, ["train.bf16=sometimes"])


def test_presets_leave_bf16_to_the_machine():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "recipes"
    for recipe in ["presets/cpu.toml", "presets/sop.toml", "music/config.toml"]:
        assert load_config(root / recipe).train.bf16 == "auto", recipe


def test_cli_flag():
    parser = argparse.ArgumentParser()
    precision.add_bf16_argument(parser)
    assert parser.parse_args([]).bf16 == "auto"
    assert parser.parse_args(["--bf16"]).bf16 == "true"
    assert parser.parse_args(["--bf16", "false"]).bf16 == "false"
    with pytest.raises(SystemExit):
        parser.parse_args(["--bf16", "fast"])
