"""Config loading: TOML recipes, base files, typed overrides, and loud errors for unknown names."""

import pytest

from pixelsound.config import Config, ConfigError, load_config, replace


def test_defaults_are_the_paper():
    cfg = load_config()
    assert cfg.audio.sample_rate == 11025 and cfg.audio.length == 65535
    assert cfg.audio.n_fft == 1022 and cfg.audio.hop == 256 and cfg.audio.log_bins == 256
    assert cfg.model.k == 32 and cfg.model.unet_depth == 7


def test_recipe_base_and_overrides(tmp_path):
    (tmp_path / "base.toml").write_text(
        "[audio]\nsample_rate = 8000\n[train]\nbatch_size = 4\nlr_rest = 0.01\n"
    )
    (tmp_path / "run.toml").write_text('base = "base.toml"\n[train]\nbatch_size = 16\n')
    cfg = load_config(tmp_path / "run.toml", ["train.lr_frame=3e-4", "data.num_mix=3", "model.mask=ratio"])
    assert cfg.audio.sample_rate == 8000  # from the base
    assert cfg.train.batch_size == 16  # file beats base
    assert cfg.train.lr_rest == 0.01 and cfg.train.lr_frame == 3e-4
    assert cfg.data.num_mix == 3 and cfg.model.mask == "ratio"
    assert isinstance(cfg.train.lr_frame, float)


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["train.batchsize=4"], "unknown key train.batchsize"),
        (["optim.lr=1"], "unknown section [optim]"),
        (["train.batch_size=four"], "expected int"),
        (["train.batch_size"], "expected section.key=value"),
    ],
)
def test_bad_overrides_fail_loudly(overrides, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_config(None, overrides)


def test_bad_file_names_the_file(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[train\nbatch_size = 3")
    with pytest.raises(ConfigError, match="bad.toml: not valid TOML"):
        load_config(bad)
    (tmp_path / "typo.toml").write_text("[train]\nbatch_size = 2.5\n")
    with pytest.raises(ConfigError, match="typo.toml: train.batch_size: expected int"):
        load_config(tmp_path / "typo.toml")
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.toml")


def test_json_round_trip_and_replace():
    cfg = replace(Config(), train={"epochs": 3}, model={"k": 8})
    assert cfg.train.epochs == 3 and cfg.model.k == 8
    import json

    from pixelsound.config import from_dict

    assert from_dict(json.loads(cfg.to_json())) == cfg
