"""``nncheck.nn.functional`` (as ``torch.nn.functional``), one file per layer family.

Names resolve lazily through ``_FAMILIES``, as in ``nncheck.nn.modules``.
"""

from ..._lazy import lazy_package

_FAMILIES = {
    "activation": (
        "relu", "relu_", "relu6", "leaky_relu", "leaky_relu_", "elu", "elu_", "celu", "celu_",
        "selu", "selu_", "sigmoid", "tanh", "hardtanh", "hardtanh_", "hardsigmoid", "hardswish",
        "silu", "mish", "softplus", "softsign", "logsigmoid", "hardshrink", "softshrink",
        "tanhshrink", "threshold", "threshold_", "gelu", "rrelu", "rrelu_", "softmax",
        "log_softmax", "softmin", "prelu", "glu",
    ),
    "attention": ("scaled_dot_product_attention", "multi_head_attention_forward"),
    "conv": (
        "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
        "unfold", "fold",
    ),
    "distance": ("pairwise_distance", "cosine_similarity", "pdist"),
    "dropout": (
        "dropout", "alpha_dropout", "feature_alpha_dropout", "dropout1d", "dropout2d", "dropout3d",
    ),
    "linear": ("linear", "bilinear"),
    "loss": (
        "binary_cross_entropy", "binary_cross_entropy_with_logits", "cosine_embedding_loss",
        "cross_entropy", "ctc_loss", "gaussian_nll_loss", "hinge_embedding_loss", "huber_loss",
        "kl_div", "l1_loss", "margin_ranking_loss", "mse_loss", "multi_margin_loss",
        "multilabel_margin_loss", "multilabel_soft_margin_loss", "nll_loss", "poisson_nll_loss",
        "smooth_l1_loss", "soft_margin_loss", "triplet_margin_loss",
        "triplet_margin_with_distance_loss", "linear_cross_entropy", "LinearCrossEntropyOptions",
    ),
    "normalization": (
        "batch_norm", "instance_norm", "group_norm", "layer_norm", "rms_norm",
        "local_response_norm", "normalize",
    ),
    "padding": ("pad",),
    "pooling": (
        "max_pool1d", "max_pool2d", "max_pool3d", "max_pool1d_with_indices",
        "max_pool2d_with_indices", "max_pool3d_with_indices", "avg_pool1d", "avg_pool2d",
        "avg_pool3d", "lp_pool1d", "lp_pool2d", "lp_pool3d", "adaptive_max_pool1d",
        "adaptive_max_pool2d", "adaptive_max_pool3d", "adaptive_max_pool1d_with_indices",
        "adaptive_max_pool2d_with_indices", "adaptive_max_pool3d_with_indices",
        "adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_avg_pool3d",
        "fractional_max_pool2d", "fractional_max_pool3d", "fractional_max_pool2d_with_indices",
        "fractional_max_pool3d_with_indices", "max_unpool1d", "max_unpool2d", "max_unpool3d",
    ),
    "sparse": ("embedding", "embedding_bag", "one_hot"),
    "vision": (
        "interpolate", "upsample", "upsample_nearest", "upsample_bilinear", "pixel_shuffle",
        "pixel_unshuffle", "channel_shuffle", "native_channel_shuffle", "grid_sample",
        "affine_grid",
    ),
}

__all__ = lazy_package(__name__, _FAMILIES)
