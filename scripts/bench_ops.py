"""nncheck vs PyTorch, side by side: one row per layer family, forward + backward, float32.

Every activation, softmax/log_softmax, each pooling and padding kind, each normalization,
Linear/Bilinear, each convolution (depthwise and transposed too), embedding, the
upsampling modes, the main losses, LSTM/GRU and MultiheadAttention, each at one
representative shape.  Each row runs forward + backward of the module (input and parameter
gradients reset to None first) alternately in nncheck and torch, best of N blocks; the
last line is the geometric mean of the ratios.
    python scripts/bench_ops.py [--repeat N] [--threads T] [--only SUBSTRING,...]
"""

import numpy as np
from benchlib import run

ACT = (16, 64, 32, 32)  # 1M floats: the activations' and elementwise rows' input
IMAGE = (8, 32, 56, 56)  # pooling, padding, normalization, upsampling
SEQ = (32, 50)  # batch, time: the recurrent and attention rows


def module_case(make, *shapes, first_output=False):
    """A case running ``make(nn)`` on standard-normal inputs of ``shapes``."""
    def build(lib, rng):
        module = make(lib.nn)
        arrays = [rng.standard_normal(s).astype(np.float32) for s in shapes]
        fn = (lambda *xs: module(*xs)[0]) if first_output else module
        return fn, arrays, list(module.parameters()), None
    return build


def loss_case(make, target):
    """A loss on (1024, 1000) float32 logits; ``target(rng)`` gives the second argument."""
    def build(lib, rng):
        module = make(lib.nn)
        x = rng.standard_normal((1024, 1000)).astype(np.float32)
        return module, [x, target(rng)], [], (0,)
    return build


def embedding_case(lib, rng):
    module = lib.nn.Embedding(20000, 256)
    return module, [rng.integers(0, 20000, (64, 128))], list(module.parameters()), ()


ACTIVATIONS = ["ReLU", "ReLU6", "LeakyReLU", "ELU", "CELU", "SELU", "Sigmoid", "Tanh",
               "Hardtanh", "Hardsigmoid", "Hardswish", "SiLU", "Mish", "Softplus", "Softsign",
               "LogSigmoid", "Hardshrink", "Softshrink", "Tanhshrink", "GELU", "PReLU"]

CASES = [(f"{name} 16x64x32x32", module_case(lambda nn, n=name: getattr(nn, n)(), ACT))
         for name in ACTIVATIONS]
CASES += [
    ("GELU(tanh) 16x64x32x32", module_case(lambda nn: nn.GELU("tanh"), ACT)),
    ("Threshold(0.1,0) 16x64x32x32", module_case(lambda nn: nn.Threshold(0.1, 0.0), ACT)),
    ("GLU(dim=1) 16x64x32x32", module_case(lambda nn: nn.GLU(1), ACT)),
    ("Softmax(dim=1) 1024x1000", module_case(lambda nn: nn.Softmax(1), (1024, 1000))),
    ("LogSoftmax(dim=1) 1024x1000", module_case(lambda nn: nn.LogSoftmax(1), (1024, 1000))),
    ("Softmax(dim=1) 8x32x56x56", module_case(lambda nn: nn.Softmax(1), IMAGE)),
    ("MaxPool1d(3,2) 32x64x1000", module_case(lambda nn: nn.MaxPool1d(3, 2), (32, 64, 1000))),
    ("MaxPool2d(3,2,1) 8x32x56x56", module_case(lambda nn: nn.MaxPool2d(3, 2, 1), IMAGE)),
    ("MaxPool3d(2) 4x16x16x32x32",
     module_case(lambda nn: nn.MaxPool3d(2), (4, 16, 16, 32, 32))),
    ("AvgPool2d(2) 8x32x56x56", module_case(lambda nn: nn.AvgPool2d(2), IMAGE)),
    ("AvgPool3d(2) 4x16x16x32x32",
     module_case(lambda nn: nn.AvgPool3d(2), (4, 16, 16, 32, 32))),
    ("AdaptiveAvgPool2d(1) 8x32x56x56", module_case(lambda nn: nn.AdaptiveAvgPool2d(1), IMAGE)),
    ("AdaptiveAvgPool2d(7) 8x32x56x56", module_case(lambda nn: nn.AdaptiveAvgPool2d(7), IMAGE)),
    ("AdaptiveMaxPool2d(7) 8x32x56x56", module_case(lambda nn: nn.AdaptiveMaxPool2d(7), IMAGE)),
    ("LPPool2d(2,2) 8x32x56x56", module_case(lambda nn: nn.LPPool2d(2, 2), IMAGE)),
    ("ZeroPad2d(2) 8x32x56x56", module_case(lambda nn: nn.ZeroPad2d(2), IMAGE)),
    ("ConstantPad2d(2,0.5) 8x32x56x56", module_case(lambda nn: nn.ConstantPad2d(2, 0.5), IMAGE)),
    ("ReflectionPad2d(2) 8x32x56x56", module_case(lambda nn: nn.ReflectionPad2d(2), IMAGE)),
    ("ReplicationPad2d(2) 8x32x56x56", module_case(lambda nn: nn.ReplicationPad2d(2), IMAGE)),
    ("CircularPad2d(2) 8x32x56x56", module_case(lambda nn: nn.CircularPad2d(2), IMAGE)),
    ("BatchNorm2d(32) 8x32x56x56", module_case(lambda nn: nn.BatchNorm2d(32), IMAGE)),
    ("InstanceNorm2d(32,affine) 8x32x56x56",
     module_case(lambda nn: nn.InstanceNorm2d(32, affine=True), IMAGE)),
    ("GroupNorm(8,32) 8x32x56x56", module_case(lambda nn: nn.GroupNorm(8, 32), IMAGE)),
    ("LayerNorm(1024) 256x1024", module_case(lambda nn: nn.LayerNorm(1024), (256, 1024))),
    ("RMSNorm(1024) 256x1024", module_case(lambda nn: nn.RMSNorm(1024), (256, 1024))),
    ("LocalResponseNorm(5) 8x32x56x56", module_case(lambda nn: nn.LocalResponseNorm(5), IMAGE)),
    ("Linear(1024,1024) 128x1024", module_case(lambda nn: nn.Linear(1024, 1024), (128, 1024))),
    ("Linear(384,1536) 2x14x14x384",
     module_case(lambda nn: nn.Linear(384, 1536), (2, 14, 14, 384))),
    ("Bilinear(128,128,256) 256x128",
     module_case(lambda nn: nn.Bilinear(128, 128, 256), (256, 128), (256, 128))),
    ("Conv1d(64,64,5,p2) 16x64x500",
     module_case(lambda nn: nn.Conv1d(64, 64, 5, padding=2), (16, 64, 500))),
    ("Conv2d(64,64,3,p1) 8x64x56x56",
     module_case(lambda nn: nn.Conv2d(64, 64, 3, padding=1), (8, 64, 56, 56))),
    ("Conv3d(16,32,3,p1) 2x16x16x32x32",
     module_case(lambda nn: nn.Conv3d(16, 32, 3, padding=1), (2, 16, 16, 32, 32))),
    ("Conv2d depthwise(96,3,p1) 8x96x56x56",
     module_case(lambda nn: nn.Conv2d(96, 96, 3, padding=1, groups=96), (8, 96, 56, 56))),
    ("Conv2d depthwise(96,7,p3) 4x96x28x28",
     module_case(lambda nn: nn.Conv2d(96, 96, 7, padding=3, groups=96), (4, 96, 28, 28))),
    ("Conv2d grouped(128,3,g8) 8x128x28x28",
     module_case(lambda nn: nn.Conv2d(128, 128, 3, padding=1, groups=8), (8, 128, 28, 28))),
    ("ConvTranspose2d(64,32,4,s2,p1) 8x64x28x28",
     module_case(lambda nn: nn.ConvTranspose2d(64, 32, 4, 2, 1), (8, 64, 28, 28))),
    ("Embedding(20000,256) 64x128", embedding_case),
    ("Upsample nearest x2 8x32x56x56",
     module_case(lambda nn: nn.Upsample(scale_factor=2, mode="nearest"), IMAGE)),
    ("Upsample bilinear x2 8x32x56x56",
     module_case(lambda nn: nn.Upsample(scale_factor=2, mode="bilinear"), IMAGE)),
    ("Upsample bicubic x2 8x32x56x56",
     module_case(lambda nn: nn.Upsample(scale_factor=2, mode="bicubic"), IMAGE)),
    ("CrossEntropyLoss 1024x1000",
     loss_case(lambda nn: nn.CrossEntropyLoss(), lambda rng: rng.integers(0, 1000, 1024))),
    ("NLLLoss 1024x1000",
     loss_case(lambda nn: nn.NLLLoss(), lambda rng: rng.integers(0, 1000, 1024))),
    ("MSELoss 1024x1000", loss_case(
        lambda nn: nn.MSELoss(), lambda rng: rng.standard_normal((1024, 1000), np.float32))),
    ("L1Loss 1024x1000", loss_case(
        lambda nn: nn.L1Loss(), lambda rng: rng.standard_normal((1024, 1000), np.float32))),
    ("SmoothL1Loss 1024x1000", loss_case(
        lambda nn: nn.SmoothL1Loss(), lambda rng: rng.standard_normal((1024, 1000), np.float32))),
    ("BCEWithLogitsLoss 1024x1000", loss_case(
        lambda nn: nn.BCEWithLogitsLoss(), lambda rng: rng.random((1024, 1000), np.float32))),
    ("KLDivLoss 1024x1000", loss_case(
        lambda nn: nn.KLDivLoss(reduction="batchmean"),
        lambda rng: rng.random((1024, 1000), np.float32))),
    ("LSTM(256,256) 50x32x256", module_case(lambda nn: nn.LSTM(256, 256),
                                            (SEQ[1], SEQ[0], 256), first_output=True)),
    ("GRU(256,256) 50x32x256", module_case(lambda nn: nn.GRU(256, 256),
                                          (SEQ[1], SEQ[0], 256), first_output=True)),
    ("MultiheadAttention(256,8) 50x32x256",
     module_case(lambda nn: nn.MultiheadAttention(256, 8),
                 *[(SEQ[1], SEQ[0], 256)] * 3, first_output=True)),
]


if __name__ == "__main__":
    run(__doc__, CASES, 42, repeat=5, block=5)
