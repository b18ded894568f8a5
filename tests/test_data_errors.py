"""Broken competition folders in Paddy Doctor's layout: each case is a clear PaddyError, or what a Kaggler expects where
going on is safe. (Other layouts' breakages: tests/test_competitions.py.)"""
import pytest
from conftest import make_competition

from paddy.data.competition import describe, predict_items, train_items
from paddy.errors import PaddyError


@pytest.fixture
def comp(tmp_path):
    return make_competition(tmp_path / "comp", per_label=3, n_test=4)[0]


def csv_lines(root):
    return (root / "train.csv").read_text().splitlines()


def items(root): return train_items(describe(root))


def test_without_train_csv_the_folders_are_the_labels(comp):
    (comp / "train.csv").unlink()
    found = describe(comp)
    assert (found.train_csv, found.label_folder, found.target) == (None, "train_images", ["label"])
    assert sorted(items(comp).y.unique()) == ["blast", "normal"]


@pytest.mark.parametrize("label, message", [("normal", r"000000.jpg \(csv normal, folder blast\)"),  # label disagrees with folder
                                            ("", r"1 row\(s\) with no label, e.g. id 000000.jpg")])
def test_a_bad_label_in_the_csv_is_refused(comp, label, message):
    lines = csv_lines(comp)
    lines[1] = lines[1].replace(",blast,", f",{label},")
    (comp / "train.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(PaddyError, match=message): items(comp)


def test_duplicate_image_ids(comp):
    lines = csv_lines(comp)
    (comp / "train.csv").write_text("\n".join(lines + [lines[1]]) + "\n")
    with pytest.raises(PaddyError, match="twice.*000000.jpg"): items(comp)


def test_listed_but_absent(comp):
    (comp / "train_images" / "blast" / "000001.jpg").unlink()
    with pytest.raises(PaddyError, match=r"train.csv lists 1 id\(s\) with no image.*000001.jpg"): items(comp)


def test_present_but_unlisted_images_are_left_out(comp):
    lines = csv_lines(comp)
    (comp / "train.csv").write_text("\n".join(lines[:-1]) + "\n")  # drop normal/010002.jpg from the csv
    assert "010002.jpg" not in set(items(comp).id) and len(items(comp)) == 5  # the csv is the source of truth


def test_sample_submission_listing_a_missing_test_image(comp):
    (comp / "test_images" / "200003.jpg").unlink()
    with pytest.raises(PaddyError, match="sample_submission.csv lists 1 id.*200003.jpg"): predict_items(describe(comp))


def test_test_images_come_in_the_samples_order_and_only_those(comp):
    sample = comp / "sample_submission.csv"
    lines = sample.read_text().splitlines()
    sample.write_text("\n".join([lines[0], *reversed(lines[2:])]) + "\n")  # 200001.jpg left out, the rest reversed
    assert list(predict_items(describe(comp)).id) == ["200004.jpg", "200003.jpg", "200002.jpg"]
