"""TTA that decodes each test image once: n augmented views and the plain one per batch, combined as fastai does."""
import numpy as np
import torch

from conftest import make_competition
from paddy import runs
from paddy.data import block, images
from paddy.data.layout import image_files
from paddy.data.loader import TTADL
from paddy.infer import predict


def meta_for(size=16):
    return runs.RunMeta(vocab=["a", "b"], size=[size, size], item_size=[2 * size, 2 * size], resize="squish", min_scale=0.75,
                flip=True, mean=[0.5] * 3, std=[0.25] * 3, config=dict(cache=False))


SOFTMAX = lambda x: x.float().softmax(-1)  # a single-label run's activation


class MeanColour(torch.nn.Module):
    "Logits from each image's mean red and green: any change of the pixels changes the prediction."
    def forward(self, x): return x[:, :2].mean((2, 3)) * 10


def test_views_are_augmented_n_times_then_plain_and_each_image_is_read_once(tmp_path, monkeypatch):
    root, _ = make_competition(tmp_path / "c", labels=("a", "b"), per_label=3)
    files = image_files(root / "test_images")
    reads = []
    real = images.open_rgb
    monkeypatch.setattr(images, "open_rgb", lambda path, min_side=None: reads.append(path) or real(path, min_side))
    dl = block.test_dataloader(meta_for(), files, bs=4, workers=0, tta=3)
    assert isinstance(dl, TTADL)
    (views,) = next(iter(dl))
    assert tuple(views.shape) == (4, 4, 3, 16, 16)  # 3 augmented views + the plain one, of a batch of 4
    assert all(not torch.equal(views[i], views[j]) for i in range(3) for j in range(i + 1, 4))
    (plain,) = next(iter(block.test_dataloader(meta_for(), files, bs=4, workers=0)))
    assert torch.allclose(views[-1], plain)  # the last view is the plain prediction's input
    reads.clear()
    list(dl)
    assert sorted(map(str, reads)) == sorted(map(str, files))  # once each, not n+1 times


def test_outputs_combine_the_views_like_fastai(tmp_path):
    root, _ = make_competition(tmp_path / "c", labels=("a", "b"), per_label=3)
    files = image_files(root / "test_images")
    dl = block.test_dataloader(meta_for(), files, bs=4, workers=0, tta=2)
    torch.manual_seed(0)
    batches = [views for (views,) in dl]
    expected = []
    for views in batches:
        p = torch.stack([MeanColour()(v).softmax(-1) for v in views])
        expected.append(torch.lerp(p[:-1].mean(0), p[-1], 0.25))  # fastai's Learner.tta with beta=0.25
    torch.manual_seed(0)
    got = predict.outputs(MeanColour(), dl, SOFTMAX)
    assert got.shape == (len(files), 2) and np.allclose(got, torch.cat(expected).numpy(), atol=1e-6)
    plain = predict.outputs(MeanColour(), block.test_dataloader(meta_for(), files, bs=4, workers=0), SOFTMAX)
    assert not np.allclose(got, plain)
