import pytest

import llmcourse
from llmcourse.config import PRESETS, Preset, PresetError, preset, preset_name


def test_three_presets_exist_and_validate():
    assert set(PRESETS) == {"tiny", "cpu", "gpu"}
    for name, p in PRESETS.items():
        assert p.name == name and isinstance(p, Preset)


def test_env_var_selects_preset(monkeypatch):
    monkeypatch.setenv("LLMCOURSE_PRESET", "cpu")
    assert preset_name() == "cpu" and preset().name == "cpu"
    monkeypatch.setenv("LLMCOURSE_PRESET", "tiny")
    assert preset() is PRESETS["tiny"]


def test_default_is_cpu_without_accelerator(monkeypatch):
    monkeypatch.delenv("LLMCOURSE_PRESET", raising=False)
    assert preset_name() == "cpu"  # the test machines have no GPU/TPU


def test_gpu_chosen_when_accelerator_present(monkeypatch):
    import llmcourse.config as config

    monkeypatch.delenv("LLMCOURSE_PRESET", raising=False)
    monkeypatch.setattr(config, "_accelerator_present", lambda: True)
    assert preset_name() == "gpu"


def test_unknown_preset_lists_valid_ones(monkeypatch):
    monkeypatch.setenv("LLMCOURSE_PRESET", "huge")
    with pytest.raises(PresetError, match=r"unknown preset 'huge'.*tiny, cpu, gpu"):
        preset()
    with pytest.raises(PresetError, match="valid presets: tiny, cpu, gpu"):
        preset("laptop")


def test_presets_are_frozen_and_replace_validates():
    p = preset("tiny")
    with pytest.raises(Exception):
        p.mlp_steps = 5
    assert p.replace(mlp_steps=5).mlp_steps == 5
    with pytest.raises(PresetError, match="must be a positive number"):
        p.replace(mlp_steps=0)
    with pytest.raises(PresetError, match="unknown preset field"):
        p.replace(not_a_field=1)


def test_presets_grow_from_tiny_to_gpu():
    for field in ("wiki_max_chars", "mlp_steps", "mlp_hidden"):
        assert getattr(PRESETS["tiny"], field) <= getattr(PRESETS["cpu"], field) <= getattr(PRESETS["gpu"], field)


def test_setup_notebook_prints_preset_and_devices(capsys):
    cfg = llmcourse.setup_notebook()
    out = capsys.readouterr().out
    assert f"preset: {cfg.name}" in out and "devices: cpu:0" in out
