"""The model zoo: friendly names → timm 1.0 names, input-size rules, normalization and weights source."""
import difflib, warnings
from dataclasses import dataclass

from paddy.errors import PaddyError

# friendly name → timm 1.0 name (with pretrained tag). The recipe's old in22k names are kept as friendly names.
MODELS = {
    "resnet18": "resnet18.a1_in1k",
    "resnet26d": "resnet26d.bt_in1k",
    "resnet34": "resnet34.a1_in1k",
    "resnet50": "resnet50.a1_in1k",
    "convnext_atto": "convnext_atto.d2_in1k",
    "convnext_nano": "convnext_nano.in12k_ft_in1k",
    "convnext_tiny": "convnext_tiny.fb_in22k_ft_in1k",
    "convnext_small": "convnext_small.fb_in22k_ft_in1k",
    "convnext_base": "convnext_base.fb_in22k_ft_in1k",
    "convnext_large": "convnext_large.fb_in22k_ft_in1k",
    "convnext_tiny_in22k": "convnext_tiny.fb_in22k",
    "convnext_small_in22k": "convnext_small.fb_in22k",
    "convnext_base_in22k": "convnext_base.fb_in22k",
    "convnext_large_in22k": "convnext_large.fb_in22k",
    "vit_tiny_patch16_224": "vit_tiny_patch16_224.augreg_in21k_ft_in1k",
    "vit_small_patch16_224": "vit_small_patch16_224.augreg_in21k_ft_in1k",
    "vit_base_patch16_224": "vit_base_patch16_224.augreg2_in21k_ft_in1k",
    "vit_large_patch16_224": "vit_large_patch16_224.augreg_in21k_ft_in1k",
    "swin_tiny_patch4_window7_224": "swin_tiny_patch4_window7_224.ms_in22k_ft_in1k",
    "swin_large_patch4_window7_224": "swin_large_patch4_window7_224.ms_in22k_ft_in1k",
    "swinv2_tiny_window8_256": "swinv2_tiny_window8_256.ms_in1k",
    "swinv2_large_window12_192_22k": "swinv2_large_window12_192.ms_in22k",
    "swinv2_large_window12_192": "swinv2_large_window12_192.ms_in22k",
    "efficientnet_b0": "efficientnet_b0.ra_in1k",
    "tf_efficientnet_lite0": "tf_efficientnet_lite0.in1k",
    "mobilenetv2_100": "mobilenetv2_100.ra_in1k",
    "mobilenetv3_large_100": "mobilenetv3_large_100.ra_in1k",
    "mobilenetv3_small_100": "mobilenetv3_small_100.lamb_in1k",
}


@dataclass(frozen=True)
class ModelSpec:
    "What the pipeline needs to know about one architecture."
    name: str                 # as the user wrote it
    timm_name: str
    fixed_size: tuple | None  # (H, W) the model requires, or None if any size works
    mean: tuple
    std: tuple

    def check_size(self, size):
        "Refuse a size a fixed-size model cannot take, before any work is done."
        if self.fixed_size and tuple(size) != tuple(self.fixed_size):
            h, w = self.fixed_size
            raise PaddyError(f"{self.name} takes only {h}x{w} inputs, not {size[0]}x{size[1]}: use --size {h}" + ("" if h == w else f",{w}"))


def spec(name):
    "The ModelSpec for a friendly or timm name; unknown names are refused with the closest ones."
    import timm
    if name in MODELS: timm_name = MODELS[name]
    elif timm.is_model(name):
        timm_name = name
        warnings.warn(f"{name} is not in paddy's model table (see `paddy models`); using it as a timm model", stacklevel=2)
    else:
        close = difflib.get_close_matches(name, sorted(set(MODELS) | set(timm.list_models())), n=5, cutoff=0.6)
        hint = f"closest: {', '.join(close)}" if close else "see `paddy models` for the table"
        raise PaddyError(f"unknown arch {name!r}; {hint}")
    cfg = timm.models.get_pretrained_cfg(timm_name)
    if cfg is None:  # deprecated aliases and tag-less names without a default config
        mean, std, fixed = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225), None
    else:
        mean, std = tuple(cfg.mean), tuple(cfg.std)
        fixed = tuple(cfg.input_size[1:]) if cfg.fixed_input_size else None
    return ModelSpec(name, timm_name, fixed, mean, std)


def create_kwargs(pretrained=True, weights=None):
    "Keyword arguments for timm.create_model: hub weights, a local file via pretrained_cfg_overlay, or none."
    if weights: return dict(pretrained=True, pretrained_cfg_overlay=dict(file=str(weights)))
    return dict(pretrained=bool(pretrained))


def body_class():
    "fastai's TimmBody, made to give (N, C, H, W) features for every timm model (see `create_model`)."
    from fastai.vision.learner import TimmBody

    class ChannelsFirstBody(TimmBody):
        "timm's Swin and SwinV2 return (N, H, W, C) features (their `output_fmt`); fastai's pooling head expects (N, C, H, W)."
        def forward(self, x):
            x = super().forward(x)
            return x.permute(0, 3, 1, 2) if self.needs_pool and getattr(self.model, "output_fmt", "NCHW") == "NHWC" else x

    return ChannelsFirstBody


def create_model(timm_name, n_out, pretrained=True, weights=None):
    """fastai's create_timm_model (timm body + fastai's concat-pool head, same layers and names), with a body that
    hands the head channels-first features: fastai's own fails on Swin and SwinV2."""
    import timm
    from fastai.vision.learner import add_head
    model = timm.create_model(timm_name, num_classes=0, **create_kwargs(pretrained, weights))
    body = body_class()(model, pretrained)
    return add_head(body, model.num_features, n_out, pool=body.needs_pool)


def table():
    "Rows of (friendly name, timm name, input size rule) for `paddy models`."
    rows = []
    for name in MODELS:
        s = spec(name)
        rule = f"fixed {s.fixed_size[0]}x{s.fixed_size[1]}" if s.fixed_size else "any size"
        rows.append((name, s.timm_name, rule))
    return rows
