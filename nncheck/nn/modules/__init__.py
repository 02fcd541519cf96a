"""Layer classes, one file per family (mirrors torch/nn/modules).

A family loads when one of its names is first read, so that building one layer
(``nncheck shape Conv2d ...``) imports that family only.  ``_FAMILIES`` is where each
family's public names are written: the family's ``__all__`` is read from it
(``family_names``), and tests/test_meta.py checks every name is defined there.
"""

from ..._lazy import lazy_package

_FAMILIES = {
    "activation": (
        "ReLU", "SELU", "SiLU", "Mish", "Hardswish", "Hardsigmoid", "Sigmoid", "Tanh", "Softsign",
        "LogSigmoid", "Tanhshrink", "LeakyReLU", "ELU", "CELU", "Hardtanh", "ReLU6", "Threshold",
        "Softplus", "Hardshrink", "Softshrink", "GELU", "RReLU", "Softmax", "Softmin", "LogSoftmax",
        "Softmax2d", "PReLU", "GLU",
    ),
    "attention": ("MultiheadAttention", "AdaptiveLogSoftmaxWithLoss"),
    "container": ("Sequential", "ModuleList", "ModuleDict", "ParameterList", "ParameterDict"),
    "conv": (
        "Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d",
        "Fold", "Unfold", "LazyConv1d", "LazyConv2d", "LazyConv3d", "LazyConvTranspose1d",
        "LazyConvTranspose2d", "LazyConvTranspose3d",
    ),
    "distance": ("PairwiseDistance", "CosineSimilarity"),
    "dropout": (
        "Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout", "FeatureAlphaDropout",
    ),
    "lazy": ("LazyModuleMixin",),
    "linear": ("Identity", "Linear", "Bilinear", "Flatten", "Unflatten", "LazyLinear"),
    "loss": (
        "BCELoss", "BCEWithLogitsLoss", "CTCLoss", "CosineEmbeddingLoss", "CrossEntropyLoss",
        "GaussianNLLLoss", "HingeEmbeddingLoss", "HuberLoss", "KLDivLoss", "L1Loss", "MSELoss",
        "MarginRankingLoss", "MultiLabelMarginLoss", "MultiLabelSoftMarginLoss", "MultiMarginLoss",
        "NLLLoss", "NLLLoss2d", "PoissonNLLLoss", "SmoothL1Loss", "SoftMarginLoss",
        "TripletMarginLoss", "TripletMarginWithDistanceLoss", "LinearCrossEntropyLoss",
        "LinearCrossEntropyOptions",
    ),
    "module": ("Module",),
    "normalization": (
        "BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "InstanceNorm1d", "InstanceNorm2d",
        "InstanceNorm3d", "LayerNorm", "RMSNorm", "GroupNorm", "LocalResponseNorm",
        "LazyBatchNorm1d", "LazyBatchNorm2d", "LazyBatchNorm3d", "LazyInstanceNorm1d",
        "LazyInstanceNorm2d", "LazyInstanceNorm3d", "CrossMapLRN2d", "SyncBatchNorm",
    ),
    "padding": (
        "ReflectionPad1d", "ReflectionPad2d", "ReflectionPad3d", "ReplicationPad1d",
        "ReplicationPad2d", "ReplicationPad3d", "CircularPad1d", "CircularPad2d", "CircularPad3d",
        "ConstantPad1d", "ConstantPad2d", "ConstantPad3d", "ZeroPad1d", "ZeroPad2d", "ZeroPad3d",
    ),
    "pooling": (
        "MaxPool1d", "MaxPool2d", "MaxPool3d", "MaxUnpool1d", "MaxUnpool2d", "MaxUnpool3d",
        "AvgPool1d", "AvgPool2d", "AvgPool3d", "FractionalMaxPool2d", "FractionalMaxPool3d",
        "LPPool1d", "LPPool2d", "LPPool3d", "AdaptiveMaxPool1d", "AdaptiveMaxPool2d",
        "AdaptiveMaxPool3d", "AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveAvgPool3d",
    ),
    "rnn": ("RNNBase", "RNN", "LSTM", "GRU", "RNNCellBase", "RNNCell", "LSTMCell", "GRUCell"),
    "sparse": ("Embedding", "EmbeddingBag"),
    "transformer": (
        "Transformer", "TransformerEncoder", "TransformerDecoder", "TransformerEncoderLayer",
        "TransformerDecoderLayer",
    ),
    "vision": (
        "PixelShuffle", "PixelUnshuffle", "ChannelShuffle", "Upsample", "UpsamplingNearest2d",
        "UpsamplingBilinear2d",
    ),
}

__all__ = lazy_package(__name__, _FAMILIES)
