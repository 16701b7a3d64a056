"""Sealed JSON files: round trips, every refusal, newer formats, atomic writes, unwritable directories."""

from __future__ import annotations

import json
import math
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmcourse import sealed
from llmcourse.sealed import SealedError, SealedFormatError, canonical_json, digest, read_sealed, write_sealed

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


def sealed_file(tmp_path, payload=None, kind="thing", format=1):
    return write_sealed(tmp_path / "x.json", kind, {"a": [1, 2.5, "é"]} if payload is None else payload, format)


def leftovers(directory):
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


# --------------------------------------------------------------------------- round trips
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=json_values)
def test_round_trip(tmp_path, payload):
    path = write_sealed(tmp_path / "x.json", "thing", payload, 3)
    assert read_sealed(path, "thing", 3) == payload
    assert leftovers(tmp_path) == []


def test_file_layout_and_hash(tmp_path):
    path = sealed_file(tmp_path)
    outer = json.loads(path.read_text(encoding="utf-8"))
    assert list(outer) == ["kind", "format", "sha256", "payload"]
    assert outer["kind"] == "thing" and outer["format"] == 1
    assert outer["sha256"] == digest(outer["payload"])
    assert canonical_json({"b": 1, "a": "é"}) == '{"a":"é","b":1}'


def test_tuples_are_lists_and_non_finite_floats_survive(tmp_path):
    path = sealed_file(tmp_path, {"pair": (1, 2), "inf": math.inf})
    assert read_sealed(path, "thing", 1) == {"pair": [1, 2], "inf": math.inf}
    nan = read_sealed(sealed_file(tmp_path, [math.nan]), "thing", 1)
    assert math.isnan(nan[0])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=json_values, position=st.floats(0, 1), bit=st.integers(0, 7))
def test_a_flipped_bit_is_never_read_as_another_payload(tmp_path, payload, position, bit):
    path = write_sealed(tmp_path / "x.json", "thing", payload, 1)
    raw = bytearray(path.read_bytes())
    raw[min(int(position * len(raw)), len(raw) - 1)] ^= 1 << bit
    path.write_bytes(bytes(raw))
    try:
        back = read_sealed(path, "thing", 1)
    except SealedError:
        return
    # a flip that leaves the file meaning the same (e.g. inside the sha's letter case) is fine
    assert canonical_json(back) == canonical_json(payload)


# --------------------------------------------------------------------------- refusals
def refused(path, match, kind="thing", format=1):
    with pytest.raises(SealedError, match=match) as info:
        read_sealed(path, kind, format)
    assert not isinstance(info.value, SealedFormatError)
    assert str(info.value).startswith(f"{path}: ")
    assert info.value.path == path
    return info.value


def test_missing_and_unreadable(tmp_path):
    refused(tmp_path / "nothing.json", "does not exist")
    refused(tmp_path, "cannot be read")  # a directory


@pytest.mark.parametrize("text, match", [
    ("{not json", "not valid JSON"),
    ('{"kind": "thing", "format": 1, "sha256": "ab', "not valid JSON"),  # truncated
    ("", "not valid JSON"),
    ("null", "holds null, not a sealed"),
    ("[1, 2]", "holds an array, not a sealed"),
    ('"text"', "holds a string"),
    ("3", "holds a number"),
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ('{"a": ' * 100_000 + "1" + "}" * 100_000, "nested too deeply"),
])
def test_files_that_are_not_sealed_json(tmp_path, text, match):
    path = tmp_path / "x.json"
    path.write_text(text, encoding="utf-8")
    refused(path, match)


def test_invalid_utf8(tmp_path):
    path = tmp_path / "x.json"
    path.write_bytes(b'{"kind": "\xff"}')
    refused(path, "not UTF-8")


def test_wrong_or_missing_kind(tmp_path):
    path = sealed_file(tmp_path, kind="tokenizer")
    err = refused(path, "holds a 'tokenizer', not a 'thing'")
    assert "delete it or write it again" in str(err)
    outer = json.loads(path.read_text())
    del outer["kind"]
    path.write_text(json.dumps(outer))
    refused(path, "holds no kind, not a 'thing'")


def edit(path, **changes):
    outer = json.loads(path.read_text(encoding="utf-8"))
    for key, value in changes.items():
        if value is ...:
            del outer[key]
        else:
            outer[key] = value
    path.write_text(json.dumps(outer), encoding="utf-8")


@pytest.mark.parametrize("changes, match", [
    ({"payload": {"a": [1, 2.5, "e"]}}, "altered or truncated"),
    ({"sha256": "0" * 64}, "altered or truncated"),
    ({"sha256": ...}, "has the fields"),
    ({"payload": ...}, "has the fields"),
    ({"extra": 1}, "has the fields"),
    ({"sha256": "short"}, "no valid sha256"),
    ({"sha256": None}, "no valid sha256"),
    ({"format": "1"}, "no valid format"),
    ({"format": True}, "no valid format"),
    ({"format": ...}, "no valid format"),
])
def test_altered_fields(tmp_path, changes, match):
    path = sealed_file(tmp_path)
    edit(path, **changes)
    refused(path, match)


def test_older_format_is_refused_as_stale(tmp_path):
    path = sealed_file(tmp_path, format=1)
    refused(path, "older thing format 1", format=2)


def test_newer_format_asks_to_upgrade(tmp_path):
    path = sealed_file(tmp_path, format=3)
    with pytest.raises(SealedFormatError, match=r"written by a newer llmcourse \(thing format 3; this llmcourse "
                                                r"reads format 2\); upgrade llmcourse") as info:
        read_sealed(path, "thing", 2)
    assert isinstance(info.value, SealedError)
    # the format is checked before the hash: a newer llmcourse may seal differently
    edit(path, sha256="not a hash")
    with pytest.raises(SealedFormatError):
        read_sealed(path, "thing", 2)


# --------------------------------------------------------------------------- writing
@pytest.mark.parametrize("payload, match", [
    ({"a": object()}, r"payload\['a'\]: builtins.object is not JSON"),
    ({1: "a"}, "has the key 1 of type int"),
    ([{"x": {3, 4}}], r"payload\[0\]\['x'\]: builtins.set is not JSON"),
])
def test_payload_that_is_not_json_is_refused_before_writing(tmp_path, payload, match):
    with pytest.raises(TypeError, match=match):
        write_sealed(tmp_path / "x.json", "thing", payload, 1)
    assert list(tmp_path.iterdir()) == []


def test_numpy_values_are_refused_with_advice(tmp_path):
    np = pytest.importorskip("numpy")
    with pytest.raises(TypeError, match=r"numpy.float32 is not JSON.*tolist"):
        write_sealed(tmp_path / "x.json", "thing", {"loss": np.float32(1)}, 1)


@pytest.mark.parametrize("kind, format", [("", 1), (None, 1), ("thing", 0), ("thing", True), ("thing", 1.0)])
def test_bad_kind_or_format(tmp_path, kind, format):
    with pytest.raises(TypeError, match="kind must be|format must be"):
        write_sealed(tmp_path / "x.json", kind, {}, format)
    with pytest.raises(TypeError, match="kind must be|format must be"):
        read_sealed(tmp_path / "x.json", kind, format)


def test_deep_payload_is_refused_not_a_recursion_error(tmp_path):
    deep = []
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(TypeError, match="nested too deeply"):
        write_sealed(tmp_path / "x.json", "thing", deep, 1)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("failure", [OSError(28, "No space left on device"), KeyboardInterrupt()])
def test_failed_replace_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch, failure):
    path = sealed_file(tmp_path, {"old": True})

    def fail(*args):
        raise failure

    monkeypatch.setattr(sealed.os, "replace", fail)
    expected = SealedError if isinstance(failure, OSError) else KeyboardInterrupt
    with pytest.raises(expected):
        write_sealed(path, "thing", {"new": True}, 1)
    monkeypatch.undo()
    assert leftovers(tmp_path) == []
    assert read_sealed(path, "thing", 1) == {"old": True}


def test_interrupt_while_writing_leaves_no_temporary(tmp_path, monkeypatch):
    def interrupted(fd):
        raise KeyboardInterrupt

    monkeypatch.setattr(sealed.os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_sealed(tmp_path / "x.json", "thing", {"a": 1}, 1)
    assert list(tmp_path.iterdir()) == []


def test_written_file_honours_the_umask(tmp_path):
    path = sealed_file(tmp_path)
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def test_directories_are_created(tmp_path):
    path = write_sealed(tmp_path / "a" / "b" / "x.json", "thing", 1, 1)
    assert read_sealed(path, "thing", 1) == 1


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root writes into read-only directories")
def test_read_only_cache_names_the_directory_and_the_variable(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("LLMCOURSE_CACHE", str(cache))
    (cache / "data").mkdir(parents=True)
    (cache / "data").chmod(0o555)
    other = tmp_path / "elsewhere"
    other.mkdir()
    other.chmod(0o555)
    try:
        with pytest.raises(SealedError) as info:
            write_sealed(cache / "data" / "x.json", "thing", {}, 1)
        message = str(info.value)
        assert message.startswith(f"{cache / 'data'}: cannot write x.json in this directory (Permission denied)")
        assert "$LLMCOURSE_CACHE" in message and str(cache) in message
        with pytest.raises(SealedError) as info:
            write_sealed(other / "x.json", "thing", {}, 1)
        assert str(other) in str(info.value) and "LLMCOURSE_CACHE" not in str(info.value)
    finally:
        (cache / "data").chmod(0o755)
        other.chmod(0o755)
    assert list((cache / "data").iterdir()) == []


def test_unwritable_directory_via_failing_open(tmp_path, monkeypatch):
    """The same message when the permission check cannot be made real (e.g. running as root)."""
    monkeypatch.setenv("LLMCOURSE_CACHE", str(tmp_path))
    real_open = os.open

    def denied(path, flags, *args):
        if flags & os.O_CREAT:
            raise PermissionError(13, "Permission denied")
        return real_open(path, flags, *args)

    monkeypatch.setattr(sealed.os, "open", denied)
    with pytest.raises(SealedError, match=r"cannot write x.json in this directory \(Permission denied\); make it "
                                          r"writable, or set \$LLMCOURSE_CACHE"):
        write_sealed(tmp_path / "models" / "x.json", "thing", {}, 1)
