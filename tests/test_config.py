import numpy as np
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
        p.mlp.steps = 5
    with pytest.raises(Exception):
        p.seed = 5
    assert p.replace(mlp={"steps": 5}).mlp.steps == 5
    assert p.replace(**{"mlp.steps": 5}).mlp.steps == 5
    changed = p.replace(seed=3, gpt={"steps": 70, "d_model": 64}, **{"rnn.hidden": 8})
    assert (changed.seed, changed.gpt.steps, changed.gpt.d_model, changed.rnn.hidden) == (3, 70, 64, 8)
    assert changed.gpt.layers == p.gpt.layers and p.gpt.steps != 70  # the rest kept, the original untouched
    with pytest.raises(PresetError, match=r"'mlp\.steps' must be a positive number"):
        p.replace(mlp={"steps": 0})
    with pytest.raises(PresetError, match=r"'gpt\.layers' must be an int"):
        p.replace(**{"gpt.layers": 2.5})
    for bad in (float("nan"), float("inf"), -1e-9, "3", None, True):
        with pytest.raises(PresetError, match=r"'gpt\.learning_rate' must be a positive number"):
            p.replace(gpt={"learning_rate": bad})
    assert p.replace(gpt={"steps": np.int64(70)}).gpt.steps == 70  # NumPy integers are integers
    with pytest.raises(PresetError, match=r"'logreg\.folds' must be at least 2"):
        p.replace(logreg={"folds": 1})
    with pytest.raises(PresetError, match=r"'gpt\.warmup' \(10\) must be below 'gpt\.steps' \(10\)"):
        p.replace(gpt={"steps": 10, "warmup": 10})
    with pytest.raises(PresetError, match=r"unknown preset field 'not_a_field'"):
        p.replace(not_a_field=1)
    with pytest.raises(PresetError, match=r"\['gpt\.d_modle'\].*valid fields of 'gpt'.*d_model"):
        p.replace(gpt={"d_modle": 1})
    with pytest.raises(PresetError, match=r"'gpt\.heads' \(3\) must divide 'gpt\.d_model'"):
        p.replace(**{"gpt.heads": 3})
    with pytest.raises(PresetError, match=r"'data' must be a DataSizes"):
        p.replace(data=5)


def test_as_dict_is_nested_and_complete():
    d = preset("cpu").as_dict()
    assert d["gpt"]["d_model"] == preset("cpu").gpt.d_model and d["name"] == "cpu"
    groups = [k for k, v in d.items() if isinstance(v, dict)]
    assert groups == [f.name for f in Preset.group_fields()]


def test_presets_grow_from_tiny_to_gpu():
    for group, field in (("data", "wiki_max_chars"), ("mlp", "steps"), ("mlp", "hidden"), ("gpt", "d_model")):
        tiny, cpu, gpu = (getattr(getattr(PRESETS[n], group), field) for n in ("tiny", "cpu", "gpu"))
        assert tiny <= cpu <= gpu


def test_setup_notebook_prints_preset_and_devices(capsys):
    cfg = llmcourse.setup_notebook()
    out = capsys.readouterr().out
    assert f"preset: {cfg.name}" in out and "devices: cpu:0" in out
