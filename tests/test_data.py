import json
import warnings

import numpy as np
import pytest

from llmcourse import data


@pytest.fixture
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LLMCOURSE_CACHE", str(tmp_path))
    return tmp_path


def test_wikipedia_articles_are_clean_text(private_cache):
    articles = data.wikipedia_articles()
    assert len(articles) > 80
    total = sum(len(a.text) for a in articles)
    assert 2_000_000 < total < 3_500_000  # ≈3 MB of article text
    text = "\n".join(a.text for a in articles)
    for markup in ("[[", "]]", "{{", "}}", "'''", "<ref", "#REDIRECT"):
        assert markup not in text, markup
    assert any(a.title == "Anarchism" for a in articles)


def test_splits_are_by_document_disjoint_and_deterministic(private_cache):
    parts = {s: {a.title for a in data.wikipedia_articles(s)} for s in data.SPLITS}
    assert all(parts.values())
    assert not (parts["train"] & parts["validation"] or parts["train"] & parts["test"] or parts["validation"] & parts["test"])
    assert set().union(*parts.values()) == {a.title for a in data.wikipedia_articles()}
    again = {a.title for a in data.wikipedia_articles("validation")}
    assert again == parts["validation"]


def test_split_documents_ignores_input_order():
    ids = [f"doc{i}" for i in range(50)]
    assert data.split_documents(ids) == data.split_documents(list(reversed(ids)))
    sizes = {k: len(v) for k, v in data.split_documents(ids).items()}
    assert sizes == {"train": 40, "validation": 5, "test": 5}


@pytest.mark.parametrize("ids, fractions, match", [
    ([], (0.8, 0.1, 0.1), "at least 3 documents"),
    (["a", "b"], (0.8, 0.1, 0.1), "at least 3 documents"),
    (["a", "a", "b"], (0.8, 0.1, 0.1), "unique"),
    (["a", "b", "c"], (0.5, 0.5, 0.5), "summing to 1"),
    (["a", "b", "c"], (1.0, 0.0, 0.0), "three positive numbers"),
])
def test_split_documents_rejects_bad_input(ids, fractions, match):
    with pytest.raises(data.DataError, match=match):
        data.split_documents(ids, fractions)


def test_unknown_split_is_a_clear_error(private_cache):
    with pytest.raises(data.DataError, match="unknown split 'valid'; valid splits: train, validation, test"):
        data.wikipedia_text("valid")
    with pytest.raises(data.DataError, match="max_chars"):
        data.wikipedia_text("train", max_chars=0)


def test_cache_is_reused_and_corrupt_entries_are_rebuilt(private_cache):
    first = data.wikipedia_text("validation")
    (entry,) = private_cache.glob("wikipedia-*.json")
    stamp = entry.stat().st_mtime_ns
    assert data.wikipedia_text("validation") == first
    assert entry.stat().st_mtime_ns == stamp  # read, not rebuilt

    # alter the payload without fixing its hash: refused and rebuilt
    content = json.loads(entry.read_text())
    assert content["kind"] == "llmcourse cache entry"  # a sealed file (llmcourse.sealed)
    content["payload"]["data"][0][1] = "tampered text"
    entry.write_text(json.dumps(content))
    with pytest.warns(UserWarning, match=r"corrupt cache entry \(it has been altered or truncated"):
        rebuilt = data.wikipedia_articles()
    assert "tampered text" not in {a.text for a in rebuilt}

    # truncate the file: refused and rebuilt
    entry.write_bytes(entry.read_bytes()[:100])
    with pytest.warns(UserWarning, match=r"corrupt cache entry \(it is not valid JSON"):
        assert data.wikipedia_text("validation") == first


def demo(calls, value=(1, "é")):
    src = data.gensim_data_path("lee.cor")
    return data.cached_json("demo", src, {"a": 1}, lambda: calls.append(1) or list(value))


@pytest.mark.parametrize("text, problem", [
    ("null", "holds null"),
    ("[1, 2]", "holds an array"),
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ("", "not valid JSON"),
])
def test_cache_entry_that_is_not_a_sealed_object_is_rebuilt_with_one_warning(private_cache, text, problem):
    calls = []
    demo(calls)
    (entry,) = private_cache.glob("demo-*.json")
    entry.write_text(text)
    with pytest.warns(UserWarning) as caught:
        assert demo(calls) == [1, "é"]
    assert len(caught) == 1 and problem in str(caught[0].message) and "\n" not in str(caught[0].message)
    assert str(caught[0].message).startswith(f"{entry}: corrupt cache entry (it ")
    assert str(caught[0].message).endswith("; rebuilding it")
    assert calls == [1, 1]
    assert demo(calls) == [1, "é"] and calls == [1, 1]  # the rebuilt entry is used


def test_cache_entry_for_another_key_is_rebuilt(private_cache):
    from llmcourse.sealed import read_sealed, write_sealed

    calls = []
    demo(calls)
    (entry,) = private_cache.glob("demo-*.json")
    payload = read_sealed(entry, "llmcourse cache entry", 2)
    write_sealed(entry, "llmcourse cache entry", {**payload, "key": "0" * 16}, 2)
    with pytest.warns(UserWarning, match="is not the cache entry for the key"):
        demo(calls)
    assert calls == [1, 1]


def test_newer_cache_entry_is_refused_not_rebuilt(private_cache):
    from llmcourse.sealed import SealedFormatError, read_sealed, write_sealed

    calls = []
    demo(calls)
    (entry,) = private_cache.glob("demo-*.json")
    payload = read_sealed(entry, "llmcourse cache entry", 2)
    write_sealed(entry, "llmcourse cache entry", payload, 3)
    before = entry.read_bytes()
    with pytest.raises(SealedFormatError, match="written by a newer llmcourse.*upgrade llmcourse"):
        demo(calls)
    assert calls == [1] and entry.read_bytes() == before


def test_cache_directory_that_cannot_be_made_names_the_variable(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.setenv("LLMCOURSE_CACHE", str(blocker / "cache"))
    with pytest.raises(data.DataError, match=r"cannot create llmcourse's cache directory .*set \$LLMCOURSE_CACHE"):
        data.cache_dir()


def test_cache_key_depends_on_settings(private_cache):
    calls = []
    src = data.gensim_data_path("lee.cor")
    data.cached_json("demo", src, {"a": 1}, lambda: calls.append(1) or [1])
    data.cached_json("demo", src, {"a": 1}, lambda: calls.append(1) or [1])
    data.cached_json("demo", src, {"a": 2}, lambda: calls.append(1) or [2])
    assert len(calls) == 2


def test_other_corpora():
    lee = data.lee_corpus()
    assert len(lee) == 350 and all(isinstance(d, str) and d for d in lee)
    pol = data.polarity_sentences()
    assert len(pol.sentences) == 200 and pol.labels.sum() == 100
    assert any("é" in s for s in pol.sentences)  # decoded from Windows-1252, not mangled
    ws, sl = data.wordsim353(), data.simlex999()
    assert len(ws.pairs) == 353 and len(sl.pairs) == 999
    assert ws.scores.min() >= 0 and ws.scores.max() <= 10
    assert data.analogy_questions_path().name == "questions-words.txt"


def test_digits_splits():
    full = data.digits()
    assert full.images.shape == (1797, 64) and full.images.dtype == np.float32
    assert 0 <= full.images.min() and full.images.max() <= 1
    parts = [data.digits(s) for s in data.SPLITS]
    assert sum(len(p.labels) for p in parts) == 1797
    with pytest.raises(data.DataError, match="unknown split"):
        data.digits("dev")


def test_missing_package_file_is_a_clear_error():
    with pytest.raises(FileNotFoundError, match="not in gensim's bundled test data"):
        data.gensim_data_path("no-such-file.txt")
