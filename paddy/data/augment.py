"""The recipe's batch augmentation — `aug_transforms(size, min_scale)` — resampled once, at the output size.

fastai warps every image at its item size (flip, rotate, zoom, warp), then crops and resamples it again to `size`
(RandomResizedCropGPU). The crop is an affine map too, so here it joins the others' matrix: one `grid_sample`
straight to `size`, a quarter of the pixels at the default item size of twice `size`. Each image draws its own
crop (fastai's RandomResizedCropGPU draws one a batch) from the same distribution: area uniform in [min_scale, 1],
square in pixels. Validation images are resized whole to `size`, as before.
"""
import torch


def crop_mat(min_scale):
    "An affine-matrix function: a random square crop of area in [min_scale, 1] for each image of a batch."
    def draw(x):
        h, w = x.shape[-2:]
        n = x.size(0)
        side = (x.new_empty(n).uniform_(min_scale, 1.0) * (h * w)).sqrt().clamp(max=min(h, w))
        sx, sy = side / w, side / h
        cx = (1 - sx) * x.new_empty(n).uniform_(-1, 1)
        cy = (1 - sy) * x.new_empty(n).uniform_(-1, 1)
        mat = torch.zeros(n, 3, 3, device=x.device)
        mat[:, 0, 0], mat[:, 0, 2], mat[:, 1, 1], mat[:, 1, 2], mat[:, 2, 2] = sx, cx, sy, cy, 1
        return mat
    return draw


def batch_augment(size, min_scale=0.75, flip=True):
    "fastai's `aug_transforms(size=size, min_scale=min_scale, do_flip=flip)`, with the crop in the single affine resample."
    from fastai.vision.all import AffineCoordTfm, aug_transforms
    tfms = aug_transforms(size=tuple(size), do_flip=flip)
    if min_scale < 1:
        affine = next((t for t in tfms if isinstance(t, AffineCoordTfm)), None)
        if affine is None: tfms.insert(0, affine := AffineCoordTfm(size=tuple(size)))
        affine.aff_fs.append(crop_mat(min_scale))
    return tfms
