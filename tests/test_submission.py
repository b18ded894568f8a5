import pandas as pd
import pytest

from paddy.errors import PaddyError
from paddy.infer import submission

SAMPLE = pd.DataFrame({"image_id": ["200001.jpg", "200002.jpg", "200003.jpg"], "label": ["x"] * 3})


def test_build_follows_sample_order_and_header():
    df = submission.build(["200003.jpg", "200001.jpg", "200002.jpg"], ["c", "a", "b"], SAMPLE)
    assert list(df.columns) == ["image_id", "label"]
    assert list(df.image_id) == list(SAMPLE.image_id) and list(df.label) == ["a", "b", "c"]


@pytest.mark.parametrize("rows, fragment", [
    ([("200001.jpg", "a"), ("200002.jpg", "a")], "lacks 1 test id"),
    ([("200001.jpg", "a"), ("200002.jpg", "a"), ("200003.jpg", "a"), ("200003.jpg", "a")], "twice"),
    ([("200001.jpg", "a"), ("200002.jpg", "a"), ("200003.jpg", "a"), ("999.jpg", "a")], "not in the test set"),
    ([("200001.jpg", "a"), ("200002.jpg", "zzz"), ("200003.jpg", "a")], "outside the training labels"),
])
def test_validate_refuses_bad_submissions(rows, fragment):
    with pytest.raises(PaddyError, match=fragment):
        submission.validate(pd.DataFrame(rows, columns=["image_id", "label"]), SAMPLE, vocab=["a", "b"])


def test_validate_refuses_wrong_header():
    with pytest.raises(PaddyError, match="header"):
        submission.validate(pd.DataFrame({"id": SAMPLE.image_id, "label": "a"}), SAMPLE)


def test_write_is_atomic_and_keeps_old_file_on_failure(tmp_path):
    out = tmp_path / "sub.csv"
    submission.write(submission.build(list(SAMPLE.image_id), ["a"] * 3, SAMPLE), out)
    before = out.read_text()
    with pytest.raises(ZeroDivisionError):
        with submission.atomic_path(out) as tmp:
            tmp.write_text("half")
            1 / 0
    assert out.read_text() == before and [p.name for p in tmp_path.iterdir()] == ["sub.csv"]
