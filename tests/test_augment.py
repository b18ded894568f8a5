"""The recipe's batch augmentation with the random-resized crop folded into one resample at the output size."""
import torch
from fastai.vision.all import AffineCoordTfm, RandomResizedCropGPU, TensorImage, aug_transforms

from paddy.data.augment import batch_augment, crop_mat


def test_crop_of_full_area_is_the_identity():
    mat = crop_mat(1.0)(torch.zeros(5, 3, 40, 40))
    assert torch.allclose(mat, torch.eye(3).expand(5, 3, 3))


def test_crops_lie_inside_the_image_with_area_in_range_and_differ_per_image():
    torch.manual_seed(0)
    x = torch.zeros(500, 3, 60, 80)
    mat = crop_mat(0.5)(x)
    sx, sy, cx, cy = mat[:, 0, 0], mat[:, 1, 1], mat[:, 0, 2], mat[:, 1, 2]
    area = sx * sy  # fraction of the image's area the crop covers
    assert area.min() >= 0.5 - 1e-6 and area.max() <= 0.75 + 1e-6  # square crops: at most 60x60 of 60x80
    assert torch.allclose(sx * 80, sy * 60)  # square in pixels, like aug_transforms' ratio=(1, 1)
    assert (cx.abs() <= 1 - sx + 1e-6).all() and (cy.abs() <= 1 - sy + 1e-6).all()
    assert len(set(sx.tolist())) > 200 and cx.std() > 0.05  # about half are clamped to the 60-pixel side


def test_one_resample_straight_to_the_output_size():
    tfms = batch_augment((32, 32), min_scale=0.75)
    assert not any(isinstance(t, RandomResizedCropGPU) for t in tfms)
    assert any(isinstance(t, RandomResizedCropGPU) for t in aug_transforms(size=32, min_scale=0.75))  # what fastai does
    (affine,) = [t for t in tfms if isinstance(t, AffineCoordTfm)]
    seen = []
    real = TensorImage.affine_coord
    def spy(x, *args, sz=None, **kw):
        seen.append(sz)
        return real(x, *args, sz=sz, **kw)
    TensorImage.affine_coord = spy
    try: out = affine(TensorImage(torch.rand(4, 3, 64, 64)), split_idx=0)
    finally: TensorImage.affine_coord = real
    assert seen == [(32, 32)] and tuple(out.shape) == (4, 3, 32, 32)


def test_validation_images_are_resized_whole():
    (affine,) = [t for t in batch_augment((16, 16), min_scale=0.5, flip=False) if isinstance(t, AffineCoordTfm)]
    x = TensorImage(torch.arange(64.).view(1, 1, 8, 8).expand(2, 3, 8, 8).contiguous())
    out = affine(x, split_idx=1)
    assert tuple(out.shape) == (2, 3, 16, 16)
    assert float(out[0, 0, 0, 0]) == 0 and float(out[0, 0, -1, -1]) == 63  # corners kept: nothing cropped
