"""EfficientNet-Lite0 in MXNet Gluon, laid out to load the TF-ported ImageNet weights (training/pretrained.py).

Stem (3x3 stride 2, 32 channels), 16 MBConv blocks (no squeeze-excite, ReLU6), a 1x1 conv to
1280 channels, global average pooling and a 1000-class fc, BatchNorm eps 1e-3. The weights come
from TensorFlow, whose "SAME" padding of a stride-2 convolution puts the extra row and column at
the bottom and right; MXNet pads symmetrically, so those convolutions pad explicitly first. For
an input side that is a multiple of 32 every stride-2 convolution sees an even side, so the
padding is fixed and the graph stays hybridizable.

MXNet is imported on first use. Shipped to SageMaker with training/ (Python 3.8, MXNet 1.9).
"""
import functools


# (repeats, kernel, stride, expansion, output channels) of each stage: EfficientNet-B0's, which Lite0 keeps.
STAGES = ((1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80), (3, 5, 1, 6, 112),
          (4, 5, 2, 6, 192), (1, 3, 1, 6, 320))
STEM_CHANNELS = 32
HEAD_CHANNELS = 1280
IMAGENET_CLASSES = 1000
BATCHNORM_EPSILON = 1e-3
BLOCK_COUNT = sum(stage[0] for stage in STAGES)
# The network's own input scaling, inside the graph so serving sends raw 0..255 pixels.
PIXEL_MEAN, PIXEL_SCALE = 127.5, 128.0
INPUT_SIDE_MULTIPLE = 32


def block_settings():
    """(input channels, output channels, kernel, stride, expansion) of each of the 16 blocks."""
    settings, channels = [], STEM_CHANNELS
    for repeats, kernel, stride, expansion, out_channels in STAGES:
        for repeat in range(repeats):
            settings.append((channels, out_channels, kernel, stride if repeat == 0 else 1, expansion))
            channels = out_channels
    return settings


def same_padding(kernel: int, stride: int):
    """(before, after) of TF "SAME" padding for an even input side."""
    total = kernel - stride
    return total // 2, total - total // 2


@functools.lru_cache(maxsize=None)
def block_classes() -> dict:
    """The Gluon block classes, defined on first use so importing this module does not import MXNet."""
    from mxnet.gluon import nn

    def batch_norm():
        # Frozen statistics: a few hundred thumbnails would drag ImageNet's running means towards CIFAR.
        return nn.BatchNorm(epsilon=BATCHNORM_EPSILON, use_global_stats=True)

    class PaddedConv(nn.HybridBlock):
        """A convolution with TF "SAME" padding, explicit where it is asymmetric."""

        def __init__(self, channels, kernel, stride, groups=1, **kwargs):
            super().__init__(**kwargs)
            before, after = same_padding(kernel, stride)
            self.pad_width = None if before == after else (0, 0, 0, 0, before, after, before, after)
            with self.name_scope():
                self.conv = nn.Conv2D(channels, kernel, stride, before if before == after else 0, groups=groups,
                                      use_bias=False)

        def hybrid_forward(self, F, x):
            if self.pad_width is not None:
                x = F.pad(x, mode="constant", pad_width=self.pad_width)
            return self.conv(x)

    class ScalePixels(nn.HybridBlock):
        def hybrid_forward(self, F, x):
            return (x - PIXEL_MEAN) / PIXEL_SCALE

    class ReLU6(nn.HybridBlock):
        def hybrid_forward(self, F, x):
            return F.clip(x, 0.0, 6.0)

    class MBConv(nn.HybridBlock):
        """Inverted residual: expand (1x1), depthwise, project (1x1); a skip when shapes allow."""

        def __init__(self, in_channels, out_channels, kernel, stride, expansion, **kwargs):
            super().__init__(**kwargs)
            hidden = in_channels * expansion
            self.skip = stride == 1 and in_channels == out_channels
            with self.name_scope():
                self.body = nn.HybridSequential()
                if expansion != 1:
                    self.body.add(nn.Conv2D(hidden, 1, use_bias=False), batch_norm(), ReLU6())
                self.body.add(PaddedConv(hidden, kernel, stride, groups=hidden), batch_norm(),
                              ReLU6(), nn.Conv2D(out_channels, 1, use_bias=False), batch_norm())

        def hybrid_forward(self, F, x):
            out = self.body(x)
            return out + x if self.skip else out

    def stem():
        layers = nn.HybridSequential(prefix="stem_")
        with layers.name_scope():
            layers.add(ScalePixels(), PaddedConv(STEM_CHANNELS, 3, 2), batch_norm(), ReLU6())
        return layers

    def blocks(first: int, last: int, prefix="blocks_"):
        """Blocks first..last-1 (0-based), named by their index so weights map one to one."""
        layers = nn.HybridSequential(prefix=prefix)
        with layers.name_scope():
            for index, setting in enumerate(block_settings()[first:last], start=first):
                layers.add(MBConv(*setting, prefix=f"block{index}_"))
        return layers

    def head(prefix="head_"):
        """1x1 conv to 1280, BatchNorm, ReLU6, global pooling: the 1280 features."""
        layers = nn.HybridSequential(prefix=prefix)
        with layers.name_scope():
            layers.add(nn.Conv2D(HEAD_CHANNELS, 1, use_bias=False), batch_norm(), ReLU6(),
                       nn.GlobalAvgPool2D(), nn.Flatten())
        return layers

    return {"PaddedConv": PaddedConv, "MBConv": MBConv, "stem": stem, "blocks": blocks, "head": head}


def check_input_side(side: int) -> int:
    if side < INPUT_SIDE_MULTIPLE or side % INPUT_SIDE_MULTIPLE:
        raise ValueError(f"the input side must be a multiple of {INPUT_SIDE_MULTIPLE} (got {side}): "
                         f"EfficientNet's stride-2 convolutions need even sides for TF padding")
    return side


def build_imagenet_network():
    """The whole ImageNet classifier: raw pixels in, 1000 logits out (for checks and conversion)."""
    from mxnet.gluon import nn
    parts = block_classes()
    net = nn.HybridSequential(prefix="efficientnetlite0_")
    with net.name_scope():
        net.add(parts["stem"](), parts["blocks"](0, BLOCK_COUNT), parts["head"](),
                nn.Dense(IMAGENET_CLASSES, prefix="fc_"))
    return net


def load_imagenet_weights(net, state_dict) -> None:
    """Copy a torch state dict of EfficientNet-Lite0 (lukemelas' naming) into build_imagenet_network.

    Both list their tensors in the same order (stem, blocks, head, fc; in a BatchNorm weight, bias,
    running mean, running variance), so they pair up by position; torch's step counters are skipped.
    Any name or shape that does not pair up is an error, never a silent partial load.
    """
    import mxnet as mx
    tensors = [(name, value) for name, value in state_dict.items() if not name.endswith("num_batches_tracked")]
    params = list(net.collect_params().values())
    if len(tensors) != len(params):
        raise ValueError(f"{len(tensors)} tensors for {len(params)} parameters: not EfficientNet-Lite0")
    net(mx.nd.zeros((1, 3, INPUT_SIDE_MULTIPLE, INPUT_SIDE_MULTIPLE)))  # settle deferred shapes
    for (name, value), param in zip(tensors, params):
        if tuple(value.shape) != tuple(param.shape) or _kind(name) != _kind(param.name):
            raise ValueError(f"tensor {name} {tuple(value.shape)} does not fit parameter {param.name} {param.shape}")
        param.set_data(mx.nd.array(value))


def _kind(name: str) -> str:
    suffix = name.replace("running_", "running").rsplit(".", 1)[-1].rsplit("_", 1)[-1]
    return {"gamma": "weight", "beta": "bias"}.get(suffix, suffix)
