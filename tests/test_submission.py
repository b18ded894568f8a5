"""Submission CSVs checked column by column against the sample, as Kaggle reads them: the header, the ids and their
order, every cell, and what each kind of column may hold."""
import pandas as pd
import pytest

from paddy.errors import PaddyError
from paddy.infer import submission

SAMPLE = pd.DataFrame({"image_id": ["200001.jpg", "200002.jpg", "200003.jpg"], "label": ["x"] * 3})
WIDE = pd.DataFrame({"image_id": ["Test_0", "Test_1"], "healthy": ["0.25"] * 2, "rust": ["0.25"] * 2, "scab": ["0.25"] * 2})


def test_build_follows_sample_order_and_header():
    df = submission.build(["200003.jpg", "200001.jpg", "200002.jpg"], {"label": ["c", "a", "b"]}, SAMPLE)
    assert list(df.columns) == ["image_id", "label"]
    assert list(df.image_id) == list(SAMPLE.image_id) and list(df.label) == ["a", "b", "c"]
    wide = submission.build(["Test_1", "Test_0"], {"scab": [0.1, 0.2], "rust": [0.3, 0.4], "healthy": [0.6, 0.4]}, WIDE)
    assert list(wide.columns) == list(WIDE.columns) and wide.loc[0].tolist() == ["Test_0", 0.4, 0.4, 0.2]


@pytest.mark.parametrize("rows, fragment", [
    ([("200001.jpg", "a"), ("200002.jpg", "a")], "lacks 1 test id"),
    ([("200001.jpg", "a"), ("200002.jpg", "a"), ("200003.jpg", "a"), ("200003.jpg", "a")], "twice"),
    ([("200001.jpg", "a"), ("200002.jpg", "a"), ("200003.jpg", "a"), ("999.jpg", "a")], "not in the test set"),
    ([("200002.jpg", "a"), ("200001.jpg", "a"), ("200003.jpg", "a")], "not in the sample submission's order"),
    ([("200001.jpg", "a"), ("200002.jpg", ""), ("200003.jpg", "a")], "1 empty cell"),
    ([("200001.jpg", "a"), ("200002.jpg", "zzz"), ("200003.jpg", "a")], "outside the training labels"),
])
def test_validate_refuses_bad_label_submissions(rows, fragment):
    with pytest.raises(PaddyError, match=fragment):
        submission.validate(pd.DataFrame(rows, columns=["image_id", "label"]), SAMPLE, "label", vocab=["a", "b"])


def test_validate_refuses_wrong_header():
    with pytest.raises(PaddyError, match="header"):
        submission.validate(pd.DataFrame({"id": SAMPLE.image_id, "label": "a"}), SAMPLE)


def test_a_narrow_file_against_a_wide_sample_is_refused():
    "What paddy once wrote for Plant Pathology 2020: the id and one column holding a label, where the sample wants four probabilities."
    narrow = pd.DataFrame({"image_id": ["Test_0", "Test_1"], "healthy": ["rust", "scab"]})
    with pytest.raises(PaddyError, match="must be the sample's: image_id,healthy,rust,scab"): submission.validate(narrow, WIDE)
    labels = pd.DataFrame({"image_id": ["Test_0", "Test_1"], "healthy": ["rust", "scab"], "rust": ["0", "1"], "scab": ["0", "1"]})
    with pytest.raises(PaddyError, match="column healthy holds 'rust' where the sample holds numbers"): submission.validate(labels, WIDE)


@pytest.mark.parametrize("kind, values, task, fragment", [
    ("probabilities", [[0.5, 0.3, 0.2], [0.5, 0.6, 0.2]], "single", "do not sum to 1"),
    ("probabilities", [[0.5, 0.3, 1.2], [0.5, 0.3, 0.2]], "multi", "outside \\[0, 1\\]"),
    ("indicators", [[1, 0, 2], [0, 1, 0]], "multi", "other than 0 and 1"),
    ("value", [[float("nan")] * 3, [1, 2, 3]], "regression", "empty cell"),
])
def test_each_kind_of_column_holds_what_it_must(kind, values, task, fragment):
    df = pd.DataFrame(values, columns=["healthy", "rust", "scab"]).assign(image_id=["Test_0", "Test_1"])[list(WIDE.columns)]
    with pytest.raises(PaddyError, match=fragment): submission.validate(df, WIDE, kind, ["healthy", "rust", "scab"], task)
    ok = pd.DataFrame([[0.5, 0.3, 0.2], [0.1, 0.1, 0.8]], columns=["healthy", "rust", "scab"]).assign(image_id=["Test_0", "Test_1"])
    submission.validate(ok[list(WIDE.columns)], WIDE, "probabilities", ["healthy", "rust", "scab"], "single")


def test_tags_and_top_k_hold_known_labels():
    sample = pd.DataFrame({"image_name": ["t0", "t1"], "tags": ["primary", "primary"]})
    good = pd.DataFrame({"image_name": ["t0", "t1"], "tags": ["clear primary", "water"]})
    submission.validate(good, sample, "tags", ["clear", "primary", "water"], "multi")
    with pytest.raises(PaddyError, match="tag\\(s\\) outside the training classes: road"):
        submission.validate(good.assign(tags=["road", "water"]), sample, "tags", ["clear", "primary", "water"], "multi")
    with pytest.raises(PaddyError, match="more than 1 labels"):
        submission.validate(good, sample, "top_k", ["clear", "primary", "water"], "single", top_k=1)


def test_write_is_atomic_and_keeps_old_file_on_failure(tmp_path, monkeypatch):
    out = tmp_path / "sub.csv"
    submission.write(submission.build(list(SAMPLE.image_id), {"label": ["a"] * 3}, SAMPLE), out)
    before = out.read_text()
    boom = lambda *a, **kw: (_ for _ in ()).throw(OSError(28, "No space left on device"))  # the disk fills mid-write
    monkeypatch.setattr(pd.DataFrame, "to_csv", boom)
    with pytest.raises(PaddyError, match="cannot write .*sub.csv: No space left on device; the previous file, if any, is unchanged"):
        submission.write(submission.build(list(SAMPLE.image_id), {"label": ["b"] * 3}, SAMPLE), out)
    assert out.read_text() == before and [p.name for p in tmp_path.iterdir()] == ["sub.csv"]
