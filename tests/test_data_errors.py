"""Broken competition folders: each case is a clear PaddyError, or a documented warning where going on is safe."""
import pytest
from conftest import make_competition

from paddy.data.layout import train_items
from paddy.errors import PaddyError


@pytest.fixture
def comp(tmp_path):
    return make_competition(tmp_path / "comp", per_label=3, n_test=4)[0]


def csv_lines(root):
    return (root / "train.csv").read_text().splitlines()


def test_missing_train_csv(comp):
    (comp / "train.csv").unlink()
    with pytest.raises(PaddyError, match="missing train.csv"): train_items(comp)


def test_missing_columns(comp):
    (comp / "train.csv").write_text("image_id,variety\n000000.jpg,ADT45\n")
    with pytest.raises(PaddyError, match="lacks column.*label"): train_items(comp)


def test_label_disagrees_with_folder(comp):
    lines = csv_lines(comp)
    lines[1] = lines[1].replace(",blast,", ",normal,")
    (comp / "train.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(PaddyError, match=r"000000.jpg \(csv normal, folder blast\)"): train_items(comp)


def test_duplicate_image_ids(comp):
    lines = csv_lines(comp)
    (comp / "train.csv").write_text("\n".join(lines + [lines[1]]) + "\n")
    with pytest.raises(PaddyError, match="twice.*000000.jpg"): train_items(comp)


def test_listed_but_absent(comp):
    (comp / "train_images" / "blast" / "000001.jpg").unlink()
    with pytest.raises(PaddyError, match="not under train_images.*000001.jpg"): train_items(comp)


def test_present_but_unlisted_is_ignored_with_a_warning(comp, capsys):
    lines = csv_lines(comp)
    (comp / "train.csv").write_text("\n".join(lines[:-1]) + "\n")  # drop normal/010002.jpg from the csv
    items = train_items(comp)
    assert "010002.jpg" not in set(items.image_id) and len(items) == 5
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "ignoring 1 image(s)" in err[0] and "010002.jpg" in err[0]


def test_empty_class_folder_is_ignored_with_a_warning(comp, capsys):
    (comp / "train_images" / "tungro").mkdir()
    items = train_items(comp)
    assert sorted(items.label.unique()) == ["blast", "normal"]
    assert "tungro" in capsys.readouterr().err


def test_sample_submission_listing_a_missing_test_image(comp):
    from paddy.infer.predict import test_files
    (comp / "test_images" / "200003.jpg").unlink()
    with pytest.raises(PaddyError, match="sample_submission.csv lists 1 id.*200003.jpg"): test_files(comp)


def test_test_image_not_in_sample_submission_is_predicted_but_left_out(comp, capsys):
    from paddy.infer.predict import test_files
    sample = comp / "sample_submission.csv"
    sample.write_text("\n".join(sample.read_text().splitlines()[:-1]) + "\n")
    assert len(test_files(comp)) == 4
    assert "200004.jpg" in capsys.readouterr().err
