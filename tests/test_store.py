"""The model store: trains once then loads, refuses and retrains corrupt entries, keys, concurrency, CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import numpy as np
import optax
import pytest
from flax import nnx

from llmcourse import store
from llmcourse.sealed import read_sealed, write_sealed
from llmcourse.store import StoreError, Stored, array_digest, entry_key, load_or_train, store_dir
from llmcourse.training import History, TrainConfig, train

HERE = Path(__file__).parent


class Small(nnx.Module):
    """A few parameters: 3 inputs → 2 outputs."""

    def __init__(self, *, rngs):
        self.layer = nnx.Linear(3, 2, rngs=rngs)

    def __call__(self, x):  # (batch, 3) -> (batch, 2)
        return self.layer(x)


class SmallToo(Small):
    """Same parameters, another class: must not share entries with Small."""


def loss_fn(model, batch):
    return optax.squared_error(model(batch["x"]), batch["y"]).mean(), {}


DATA = {"x": np.random.default_rng(0).normal(size=(32, 3)).astype(np.float32),
        "y": np.random.default_rng(1).normal(size=(32, 2)).astype(np.float32)}
CONFIG = TrainConfig(steps=5, batch_size=8, learning_rate=0.1, optimizer="sgd", momentum=0.0, progress=False)


class Request:
    """A load_or_train call whose train() counts how often it ran."""

    def __init__(self, name="tiny-linear", cls=Small, **overrides):
        self.calls = 0
        self.cls = cls
        self.kwargs = dict(settings={"width": 2, "preset": "tiny"}, data_digest=array_digest(DATA["x"], DATA["y"]),
                           seed=0, version=1)
        self.kwargs.update(overrides)
        self.name = name

    def build(self):
        return self.cls(rngs=nnx.Rngs(self.kwargs["seed"]))

    def train(self, model):
        self.calls += 1
        history = train(model, loss_fn, DATA, CONFIG)
        return history, {"final_loss": float(history.losses[-1]), "note": "é"}

    def __call__(self) -> Stored:
        return load_or_train(self.name, build=self.build, train=self.train, **self.kwargs)


def weights(model):
    """Every array of the model's state; random keys (typed PRNG keys) as their raw key data."""
    return [np.array(jax.random.key_data(x) if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key) else x)
            for x in jax.tree.leaves(nnx.state(model))]


def assert_same_weights(a, b):
    wa, wb = weights(a), weights(b)
    assert len(wa) == len(wb) > 0
    for x, y in zip(wa, wb):
        np.testing.assert_array_equal(x, y)


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LLMCOURSE_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("LLMCOURSE_RETRAIN", raising=False)
    return tmp_path / "cache"


def one_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    return lines[0]


# --------------------------------------------------------------------------- train once, then load
def test_trains_once_then_loads(capsys):
    request = Request()
    first = request()
    out = capsys.readouterr()
    assert request.calls == 1 and first.from_store is False
    assert one_line(out.out).startswith('Trained "tiny-linear" in ') and "kept it in the model store" in out.out
    assert out.err == ""
    assert first.path == store_dir() / f"tiny-linear-{first.key[:16]}"
    assert sorted(p.name for p in first.path.iterdir()) == ["checkpoint", "entry.json"]

    second = Request()
    loaded = second()
    out = capsys.readouterr()
    assert second.calls == 0 and loaded.from_store is True
    assert one_line(out.out).startswith(f'Loaded "tiny-linear" from the model store (trained ')
    assert f"key {first.key[:8]})" in out.out
    assert_same_weights(loaded.model, first.model)
    assert loaded.key == first.key and loaded.path == first.path and loaded.created == first.created
    assert loaded.train_seconds == pytest.approx(first.train_seconds)
    assert loaded.results == first.results == {"final_loss": first.history.losses[-1], "note": "é"}
    assert isinstance(loaded.history, History)
    assert loaded.history.to_dict() == first.history.to_dict()
    assert loaded.history.steps == [1, 2, 3, 4, 5]
    np.testing.assert_array_equal(loaded.history.losses, first.history.losses)


def test_first_call_trains_exactly_as_without_the_store():
    stored = Request()()
    plain = Small(rngs=nnx.Rngs(0))
    history = train(plain, loss_fn, DATA, CONFIG)
    assert_same_weights(stored.model, plain)
    np.testing.assert_array_equal(stored.history.losses, history.losses)


class WithDropout(nnx.Module):
    """Holds a random stream (a typed PRNG key and a counter) in its state."""

    def __init__(self, *, rngs):
        self.layer = nnx.Linear(3, 2, rngs=rngs)
        self.drop = nnx.Dropout(0.5, rngs=nnx.Rngs(dropout=7))

    def __call__(self, x):
        return self.drop(self.layer(x))


def test_loaded_model_is_in_eval_mode_with_its_random_stream(capsys):
    trained = Request(cls=WithDropout)()
    loaded = Request(cls=WithDropout)()
    assert loaded.from_store and loaded.model.drop.deterministic
    keys = [x for x in jax.tree.leaves(nnx.state(loaded.model)) if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)]
    assert keys, "the test model should carry a random key"
    assert_same_weights(loaded.model, trained.model)  # the stream's key and count included


def test_entry_file_holds_the_key_material(capsys):
    stored = Request()()
    payload = read_sealed(stored.path / "entry.json", store.KIND, store.FORMAT)
    material = payload["key_material"]
    assert material["name"] == "tiny-linear" and material["model_class"] == "test_store.Small"
    assert material["settings"] == {"width": 2, "preset": "tiny"} and material["seed"] == 0
    assert material["version"] == 1 and payload["key"] == stored.key
    assert material["devices"] == store.devices() == f"{jax.default_backend()} x{jax.device_count()}"
    assert payload["llmcourse_version"] and payload["train_seconds"] >= 0


# --------------------------------------------------------------------------- keys
BASE = dict(name="m", model_class=Small, settings={"a": 1, "b": [1, 2]}, data_digest="d", seed=0, version=1)


@pytest.mark.parametrize("change", [
    {"version": 2}, {"version": "1"}, {"settings": {"a": 2, "b": [1, 2]}}, {"settings": {"a": 1, "b": [2, 1]}},
    {"settings": {"a": 1, "b": [1, 2], "c": None}}, {"data_digest": "e"}, {"seed": 1}, {"model_class": SmallToo},
    {"name": "n"},
])
def test_key_changes_with_what_determines_the_model(change):
    assert entry_key(**{**BASE, **change}) != entry_key(**BASE)


def test_key_changes_with_the_devices(monkeypatch):
    before = entry_key(**BASE)
    monkeypatch.setattr(store, "devices", lambda: "gpu x8")
    assert entry_key(**BASE) != before


def test_key_does_not_change_otherwise():
    assert entry_key(**BASE) == entry_key(**{**BASE, "settings": {"b": [1, 2], "a": 1}})  # key order
    assert entry_key(**BASE) == entry_key(**dict(BASE))
    assert len(entry_key(**BASE)) == 64


def test_another_class_gets_its_own_entry(capsys):
    a, b = Request(), Request(cls=SmallToo)
    first, second = a(), b()
    assert b.calls == 1 and first.key != second.key and first.path != second.path
    assert not second.from_store


def test_changed_settings_train_a_new_entry_and_keep_the_old(capsys):
    Request()()
    changed = Request(settings={"width": 2, "preset": "cpu"})
    changed()
    assert changed.calls == 1
    assert len([p for p in store_dir().iterdir() if not p.name.startswith(".")]) == 2
    again = Request()
    again()
    assert again.calls == 0


def test_array_digest():
    a = np.arange(6, dtype=np.int32)
    assert array_digest(a) == array_digest(a.copy())
    assert array_digest(a) != array_digest(a.astype(np.int64))
    assert array_digest(a) != array_digest(a.reshape(2, 3))
    assert array_digest(a) != array_digest(a[::-1])
    with pytest.raises(TypeError, match="object arrays"):
        array_digest(np.array([object()]))


# --------------------------------------------------------------------------- corrupt entries
def biggest_checkpoint_file(entry: Path) -> Path:
    files = [p for p in (entry / "checkpoint").rglob("*") if p.is_file() and p.name != "llmcourse-manifest.json"]
    return max(files, key=lambda p: p.stat().st_size)


def flip_checkpoint_byte(entry):
    victim = biggest_checkpoint_file(entry)
    raw = bytearray(victim.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    victim.write_bytes(bytes(raw))


def truncate_entry_json(entry):
    path = entry / "entry.json"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def delete_entry_json(entry):
    (entry / "entry.json").unlink()


def delete_checkpoint(entry):
    import shutil

    shutil.rmtree(entry / "checkpoint")


def alter_results(entry):
    outer = json.loads((entry / "entry.json").read_text(encoding="utf-8"))
    outer["payload"]["results"]["final_loss"] = 0.0
    (entry / "entry.json").write_text(json.dumps(outer), encoding="utf-8")


def sealed_but_wrong_fields(entry):
    payload = read_sealed(entry / "entry.json", store.KIND, store.FORMAT)
    del payload["history"]
    write_sealed(entry / "entry.json", store.KIND, payload, store.FORMAT)


def sealed_but_malformed_history(entry):
    payload = read_sealed(entry / "entry.json", store.KIND, store.FORMAT)
    payload["history"]["steps"] = ["one"]
    write_sealed(entry / "entry.json", store.KIND, payload, store.FORMAT)


def sealed_but_other_key(entry):
    payload = read_sealed(entry / "entry.json", store.KIND, store.FORMAT)
    payload["key_material"]["seed"] = 5
    payload["key"] = store.digest(payload["key_material"])
    write_sealed(entry / "entry.json", store.KIND, payload, store.FORMAT)


def swapped_checkpoint(entry):
    other = Request(seed=1)()  # same class and shape, other weights
    import shutil

    shutil.rmtree(entry / "checkpoint")
    shutil.copytree(other.path / "checkpoint", entry / "checkpoint")


def entry_is_a_file(entry):
    import shutil

    shutil.rmtree(entry)
    entry.write_text("not a directory")


@pytest.mark.parametrize("damage, problem", [
    (flip_checkpoint_byte, "has been altered or truncated"),
    (truncate_entry_json, "is not valid JSON"),
    (delete_entry_json, "does not exist"),
    (delete_checkpoint, "is not an llmcourse checkpoint"),
    (alter_results, "has been altered or truncated"),
    (sealed_but_wrong_fields, "has the fields"),
    (sealed_but_malformed_history, "history is malformed"),
    (sealed_but_other_key, "is for another key"),
    (swapped_checkpoint, "not the one the entry was saved with"),
    (entry_is_a_file, "it is not a directory"),
])
def test_corrupt_entry_is_refused_in_one_line_and_retrained(capsys, damage, problem):
    first = Request()()
    damage(first.path)
    capsys.readouterr()
    request = Request()
    again = request()
    out = capsys.readouterr()
    warning = one_line(out.err)
    assert warning.startswith('Warning: the model store\'s entry for "tiny-linear" is unusable (')
    assert problem in warning and "removed it, training again" in warning
    assert request.calls == 1 and not again.from_store
    assert_same_weights(again.model, first.model)  # trained again, deterministically
    loaded = Request()()
    assert loaded.from_store


def test_newer_entry_is_refused_not_deleted(capsys):
    first = Request()()
    payload = read_sealed(first.path / "entry.json", store.KIND, store.FORMAT)
    write_sealed(first.path / "entry.json", store.KIND, payload, store.FORMAT + 1)
    request = Request()
    with pytest.raises(StoreError, match=r"written by a newer llmcourse.*upgrade llmcourse.*store clear tiny-linear"):
        request()
    assert request.calls == 0 and (first.path / "entry.json").exists()


def test_leftovers_of_a_killed_writer_are_removed(capsys):
    first = Request()()
    leftover = first.path.with_name(f".{first.path.name}.tmp-123456")
    (leftover / "checkpoint").mkdir(parents=True)
    Request()()
    assert not leftover.exists()


def test_removal_refuses_paths_outside_the_store(tmp_path):
    outside = tmp_path / "precious-0123456789abcdef"
    outside.mkdir()
    with pytest.raises(StoreError, match="is not an entry of the model store"):
        store._remove(outside)
    assert outside.exists()


def test_failed_save_leaves_no_entry_and_no_temporary(monkeypatch, capsys):
    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(store, "write_sealed", full_disk)
    with pytest.raises(OSError, match="No space left"):
        Request()()
    assert [p.name for p in store_dir().iterdir() if not p.name.endswith(".lock")] == []


def test_failed_training_leaves_nothing(capsys):
    class Failing(Request):
        def train(self, model):
            raise RuntimeError("loss exploded")

    with pytest.raises(RuntimeError, match="loss exploded"):
        Failing()()
    assert [p.name for p in store_dir().iterdir() if not p.name.endswith(".lock")] == []


# --------------------------------------------------------------------------- LLMCOURSE_RETRAIN
def test_retrain_forces_training_and_replaces_the_entry(monkeypatch, capsys):
    first = Request()()
    monkeypatch.setenv("LLMCOURSE_RETRAIN", "1")
    request = Request()
    again = request()
    assert request.calls == 1 and not again.from_store and again.path == first.path
    assert again.created >= first.created
    assert sorted(p.name for p in store_dir().iterdir() if not p.name.endswith(".lock")) == [first.path.name]
    monkeypatch.setenv("LLMCOURSE_RETRAIN", "0")
    assert Request()().from_store


def test_retrain_with_a_bad_value_is_an_error(monkeypatch):
    monkeypatch.setenv("LLMCOURSE_RETRAIN", "yes")
    with pytest.raises(StoreError, match=r"\$LLMCOURSE_RETRAIN must be 1 .* or 0 / unset, got 'yes'"):
        Request()()


# --------------------------------------------------------------------------- bad requests
@pytest.mark.parametrize("change, match", [
    ({"name": "Ch07 LSTM"}, "name must be 1 to 64 characters of a-z"),
    ({"name": ""}, "name must be"),
    ({"name": "../evil"}, "name must be"),
    ({"settings": [1, 2]}, "settings must be a dict"),
    ({"settings": {"lr": np.float32(0.1)}}, r"settings\['lr'\]: numpy.float32 is not JSON"),
    ({"settings": {"f": len}}, r"settings\['f'\]: builtins.builtin_function_or_method is not JSON"),
    ({"settings": {1: 2}}, "has the key 1 of type int"),
    ({"data_digest": ""}, "data_digest must be a non-empty str"),
    ({"data_digest": b"ab"}, "data_digest must be a non-empty str"),
    ({"seed": -1}, "seed must be an int >= 0"),
    ({"seed": True}, "seed must be an int >= 0"),
    ({"version": None}, "version must be an int >= 0 or a non-empty str"),
    ({"version": ""}, "version must be"),
    ({"description": 3}, "description must be a str or None"),
])
def test_bad_arguments(change, match):
    request = Request()
    arguments = dict(name=request.name, build=request.build, train=request.train, **request.kwargs)
    arguments.update(change)
    with pytest.raises(StoreError, match=match):
        load_or_train(**arguments)
    assert request.calls == 0


def test_build_and_train_must_be_functions_returning_the_right_things(capsys):
    request = Request()
    with pytest.raises(StoreError, match="build and train must be functions"):
        load_or_train("x", build=None, train=request.train, **request.kwargs)
    with pytest.raises(StoreError, match="build\\(\\) must return an nnx.Module, got dict"):
        load_or_train("x", build=dict, train=request.train, **request.kwargs)
    for returned, match in [
        (None, r"must return \(history, results\), got NoneType"),
        (({}, {}), "must return a llmcourse.training.History or None"),
        ((None, [1]), "results, got list"),
        ((None, {"loss": np.float32(1.0)}), r"train\(model\) returned results\[.loss.\]: numpy.float32 is not JSON"),
    ]:
        with pytest.raises(StoreError, match=match):
            load_or_train("x", build=request.build, train=lambda m, r=returned: r, **request.kwargs)
    stored = load_or_train("x", build=request.build, train=lambda m: (None, {}), **request.kwargs)
    assert stored.history is None and Request("x")().history is None


# --------------------------------------------------------------------------- two processes at once
CONCURRENT = textwrap.dedent("""
    import os, sys, time
    from pathlib import Path
    import numpy as np, jax
    from flax import nnx
    sys.path.insert(0, {tests!r})
    from test_store import Request
    from llmcourse.store import load_or_train

    shared = Path(sys.argv[1])
    (shared / f"ready-{{os.getpid()}}").touch()

    class Slow(Request):
        def train(self, model):
            (shared / f"trained-{{os.getpid()}}").touch()
            deadline = time.time() + 120  # wait until the other process is asking too
            while len(list(shared.glob("ready-*"))) < 2 and time.time() < deadline:
                time.sleep(0.05)
            time.sleep(1.0)
            return super().train(model)

    stored = Slow()()
    np.savez(shared / f"weights-{{os.getpid()}}.npz", *[np.asarray(x) for x in jax.tree.leaves(nnx.state(stored.model))])
    print("from_store", stored.from_store)
""")


def test_two_processes_asking_at_once_train_once_and_agree(tmp_path, private_cache):
    script = tmp_path / "ask.py"
    script.write_text(CONCURRENT.format(tests=str(HERE)))
    shared = tmp_path / "shared"
    shared.mkdir()
    env = {**os.environ, "LLMCOURSE_CACHE": str(private_cache)}
    processes = [subprocess.Popen([sys.executable, str(script), str(shared)], env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=300) for p in processes]
    for p, (out, err) in zip(processes, outputs):
        assert p.returncode == 0, err[-3000:]
    stdout = [out for out, _ in outputs]
    assert len(list(shared.glob("trained-*"))) == 1  # train ran once
    assert sorted(out.strip().splitlines()[-1] for out in stdout) == ["from_store False", "from_store True"]
    assert any("Waiting for another process" in out for out in stdout)  # they really overlapped
    a, b = [np.load(p, allow_pickle=False) for p in sorted(shared.glob("weights-*.npz"))]
    assert a.files == b.files
    for name in a.files:
        np.testing.assert_array_equal(a[name], b[name])
    loaded = Request()()
    assert loaded.from_store
    from llmcourse.checkpoints import verify_checkpoint

    verify_checkpoint(loaded.path / "checkpoint")


# --------------------------------------------------------------------------- command line
def cli(*args, cache):
    return subprocess.run([sys.executable, "-m", "llmcourse.store", *args], capture_output=True, text=True,
                          env={**os.environ, "LLMCOURSE_CACHE": str(cache)}, timeout=120)


def test_cli_list_and_clear(private_cache, capsys):
    lstm = Request("ch07-lstm")()
    gpt = Request("ch08-gpt", settings={"preset": "cpu"}, seed=3, version=2)()
    broken = Request("broken")()
    truncate_entry_json(broken.path)

    listed = cli("list", cache=private_cache)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0].startswith(f"Model store at {private_cache / 'models'}: 3 entries")
    assert lines[1].split() == ["NAME", "KEY", "MODEL", "PRESET", "SEED", "VERSION", "SIZE", "AGE"]
    rows = {line.split()[0]: line for line in lines[2:]}
    assert rows["ch07-lstm"].split()[1:6] == [lstm.key[:12], "Small", "tiny", "0", "1"]
    assert rows["ch08-gpt"].split()[1:6] == [gpt.key[:12], "Small", "cpu", "3", "2"]
    assert rows["ch07-lstm"].rstrip().endswith(" s")  # age
    assert "unreadable: is not valid JSON" in rows["broken"]

    unknown = cli("clear", "nope", cache=private_cache)
    assert unknown.returncode == 2
    assert "no entry named 'nope' in the model store; its entries are: broken, ch07-lstm, ch08-gpt" in unknown.stderr
    assert lstm.path.exists()

    expected = sorted(f"Removed {s.path.name} ({store._human_size(store._size(s.path))})" for s in (lstm, broken))
    cleared = cli("clear", "ch07-lstm", "broken", cache=private_cache)
    assert cleared.returncode == 0, cleared.stderr
    assert sorted(cleared.stdout.splitlines()) == expected
    assert not lstm.path.exists() and not broken.path.exists() and gpt.path.exists()

    everything = cli("clear", cache=private_cache)
    assert everything.returncode == 0 and everything.stdout.startswith(f"Removed {gpt.path.name} (")
    assert not gpt.path.exists()
    assert "is empty" in cli("list", cache=private_cache).stdout
    assert "nothing to remove" in cli("clear", cache=private_cache).stdout


def test_cli_bad_input_and_help(private_cache):
    bad = cli("remove", cache=private_cache)
    assert bad.returncode == 2 and "invalid choice: 'remove'" in bad.stderr and "list" in bad.stderr
    missing = cli(cache=private_cache)
    assert missing.returncode == 2 and "required" in missing.stderr
    helped = cli("--help", cache=private_cache)
    assert helped.returncode == 0 and "list" in helped.stdout and "clear" in helped.stdout


def test_clear_skips_an_entry_in_use(private_cache, capsys):
    from filelock import FileLock

    stored = Request()()
    lock = FileLock(str(stored.path.with_name(f".{stored.path.name}.lock")))
    with lock:
        result = cli("clear", cache=private_cache)
    assert result.returncode == 1 and "Skipped" in result.stdout and stored.path.exists()


def test_human_sizes_and_ages():
    assert store._human_size(999) == "999 B" and store._human_size(1500) == "1.5 kB"
    assert store._human_size(2_500_000) == "2.5 MB"
    assert store._seconds(3.21) == "3.2 s" and store._seconds(59.4) == "59 s" and store._seconds(300) == "5.0 min"


def test_history_round_trips_through_json():
    history = History()
    history.add_train(1, {"loss": np.float32(1.5), "grad_norm": 2.0})
    history.add_train(2, {"loss": 1.25, "grad_norm": 1.0})
    history.add_eval(2, {"loss": 1.75})
    history.seconds, history.compile_seconds = 3.5, 1.0
    as_json = json.loads(json.dumps(history.to_dict()))
    assert History.from_dict(as_json) == history
    good = history.to_dict()
    for change, match in [
        ({"steps": ...}, "needs the fields"),
        ({"steps": [1, "2"]}, "'steps' must be a list of int"),
        ({"steps": [1, True]}, "'steps' must be a list of int"),
        ({"train": {"loss": [1.0]}}, "'train' must have one value per step"),
        ({"train": [1.0]}, "'train' must be an object"),
        ({"eval": {"loss": ["x"]}}, "'eval.loss' must be a list of numbers"),
        ({"seconds": "3"}, "'seconds' must be a number"),
    ]:
        bad = {k: v for k, v in {**good, **change}.items() if v is not ...}
        with pytest.raises(ValueError, match=match):
            History.from_dict(bad)
    with pytest.raises(ValueError, match="needs the fields"):
        History.from_dict([1])


# --------------------------------------------------------------------------- the chapters' models
def test_chapter_models_go_through_the_store_and_match_training_without_it(capsys):
    """Chapter 7's RNNs and chapter 8's GPT: the first call trains exactly as the engine alone would,
    the second loads the same weights and history; another setting is another entry."""
    from llmcourse.config import preset
    from llmcourse.data import TokenWindows
    from llmcourse.experiments import recurrent as rec
    from llmcourse.experiments import transformer as tx
    from llmcourse.models.rnn import CharRNN, char_lm_loss
    from llmcourse.models.transformer import loss_fn as gpt_loss
    from llmcourse.tokenizers import BPETokenizer, CharTokenizer
    from llmcourse.training import Trainer

    cfg = preset("tiny").replace(rnn={"steps": 4, "steps_per_call": 2, "eval_every": 2, "hidden": 8, "embed": 4},
                                 gpt={"steps": 4, "steps_per_call": 2, "warmup": 1, "d_model": 16, "layers": 1})
    rng = np.random.default_rng(0)
    chars = CharTokenizer.train("abcdefgh ")
    ids = rng.integers(0, chars.vocab_size, 400).astype(np.int32)
    data = rec.CharData(chars, ids, "", ids[:100], ids[:100])
    first = rec.train_char_rnn(cfg, data, "lstm", 4, 1e-2)
    second = rec.train_char_rnn(cfg, data, "lstm", 4, 1e-2)
    plain = CharRNN(chars.vocab_size, 8, cell="lstm", embed_dim=4, rngs=nnx.Rngs(cfg.seed))
    history = Trainer(plain, char_lm_loss, rec.train_config(cfg, 4, 1e-2)).fit(
        TokenWindows(ids, cfg.rnn.seq_len, seed=cfg.seed), eval_data=TokenWindows(ids[:100], cfg.rnn.seq_len))
    assert not first.from_store and second.from_store
    assert_same_weights(first.model, plain)
    assert_same_weights(second.model, plain)
    assert second.history.to_dict()["eval"] == history.to_dict()["eval"] and second.history.steps == history.steps
    assert not rec.train_char_rnn(cfg, data, "lstm", 4, 2e-2).from_store  # another learning rate
    assert not rec.train_char_rnn(cfg, data, "rnn", 4, 1e-2).from_store  # another cell

    bpe = BPETokenizer([])
    token_ids = rng.integers(0, 256, 600).astype(np.int32)
    tokens = tx.TokenText(bpe, "", token_ids, "", token_ids[:80])
    gpt = tx.train_gpt(cfg, tokens)
    again = tx.train_gpt(cfg, tokens)
    plain = tx.build_gpt(cfg, 256)
    Trainer(plain, gpt_loss, tx.train_config(cfg)).fit(TokenWindows(token_ids, cfg.gpt.context, seed=cfg.seed))
    assert not gpt.from_store and again.from_store
    assert_same_weights(gpt.model, plain)
    assert_same_weights(again.model, plain)
    assert again.final_training_bits == gpt.final_training_bits
    assert not tx.train_gpt(cfg, tokens, dropout=0.1).from_store
    assert not tx.train_gpt(cfg, tokens, positions="sinusoidal").from_store
    out = capsys.readouterr().out
    assert out.count('Loaded "ch07-char-lstm" from the model store') == 1
    assert out.count('Loaded "ch08-gpt" from the model store') == 1
    assert out.count('Trained "ch08-gpt"') == 3
