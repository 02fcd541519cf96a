"""Every registered layer on the emulated CUDA device (NNCHECK_CUDA_EMULATE=1) against the
CPU path: outputs, input gradients and parameter gradients, float64 to 1e-12 and float32 to
1e-5, with every generic tensor operation on device kernels (no host fallbacks but the listed
ones).  A layer whose family has no CUDA launchers yet would skip, naming the family.
"""

import json

import numpy as np
import pytest
from helpers import gpu_check, invoke, needs_cxx

import nncheck
from nncheck import cuda, registry
from nncheck.cuda import launchers

pytestmark = needs_cxx

LAYERS = sorted(registry.layers())

# Layers whose device run still computes a generic operation on the host, and why.
HOST_FALLBACKS = {}

@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", LAYERS)
def test_layer_on_emulated_cuda_equals_cpu(emulated, name, dtype):
    """scripts/gpu_check.py's layer check (the same a GPU machine runs)."""
    check = gpu_check()
    try:
        worst, fallbacks = check.layer_case(name, dtype)
    except check.LayerSkipped as exc:
        pytest.skip(str(exc))
    assert worst <= 1, f"{name}: error {worst:.2f} x tolerance"
    assert set(fallbacks) <= set(HOST_FALLBACKS.get(name, ())), \
        f"{name}: computed on the host: {fallbacks}"


GRADCHECK_LAYERS = [
    ("ReLU", (), [(3, 4)]), ("GELU", (), [(3, 4)]), ("Tanh", (), [(3, 4)]),
    ("Softmax", (1,), [(2, 5)]), ("LogSoftmax", (1,), [(2, 5)]), ("PReLU", (3,), [(2, 3, 2)]),
    ("GLU", (), [(2, 4)]), ("Linear", (4, 3), [(2, 4)]), ("Bilinear", (3, 2, 2), [(2, 3), (2, 2)]),
    ("Conv1d", (2, 2, 3), [(1, 2, 5)]), ("Conv2d", (2, 2, 2), [(1, 2, 3, 3)]),
    ("ConvTranspose2d", (2, 1, 2), [(1, 2, 2, 2)]), ("ReflectionPad1d", (2,), [(1, 2, 4)]),
    ("Unfold", (2,), [(1, 2, 3, 3)]), ("SmoothL1Loss", (), [(3, 4), (3, 4)]),
    ("BCEWithLogitsLoss", (), [(3, 4), (3, 4)]), ("CosineSimilarity", (), [(3, 4), (3, 4)]),
    ("PairwiseDistance", (), [(3, 4), (3, 4)]), ("LocalResponseNorm", (2,), [(1, 3, 2)]),
    ("UpsamplingBilinear2d", (None, 2), [(1, 1, 2, 3)]), ("GRUCell", (3, 2), [(2, 3)]),
    ("LSTM", (2, 2), [(3, 1, 2)]), ("MultiheadAttention", (4, 2), [(2, 1, 4)] * 3),
    # views, copies and generic tensor ops on the device (elementwise.cu)
    ("Flatten", (), [(2, 3, 2)]), ("Unflatten", (1, (2, 2)), [(3, 4)]),
    ("PixelShuffle", (2,), [(1, 4, 2, 2)]), ("ChannelShuffle", (2,), [(1, 4, 2, 1)]),
    ("MaxPool2d", (2,), [(1, 2, 4, 4)]), ("AvgPool1d", (2,), [(1, 2, 4)]),
    ("AdaptiveAvgPool2d", (2,), [(1, 2, 4, 3)]), ("ZeroPad2d", (1,), [(1, 1, 2, 3)]),
    ("BatchNorm1d", (3,), [(4, 3)]), ("LayerNorm", (4,), [(2, 4)]),
    ("GroupNorm", (2, 4), [(2, 4, 3)]), ("InstanceNorm1d", (2,), [(2, 2, 5)]),
    ("Conv3d", (1, 2, 2), [(1, 1, 3, 3, 3)]), ("RNNCell", (3, 2), [(2, 3)]),
    ("Softplus", (), [(3, 4)]), ("ELU", (), [(3, 4)]), ("MSELoss", (), [(3, 4), (3, 4)]),
    ("TripletMarginLoss", (), [(3, 4)] * 3), ("KLDivLoss", (), [(3, 4), (3, 4)]),
]


@pytest.mark.parametrize("name, args, shapes", GRADCHECK_LAYERS,
                         ids=[g[0] for g in GRADCHECK_LAYERS])
def test_gradcheck_on_emulated_cuda(emulated, name, args, shapes):
    module = registry.get(name).cls(*args).double().cuda()
    rng = np.random.default_rng(0)
    inputs = [nncheck.from_numpy(rng.standard_normal(s)).cuda().requires_grad_()
              for s in shapes]
    before = launchers.stats["launches"]
    assert nncheck.gradcheck(module, tuple(inputs))
    assert launchers.stats["launches"] > before


@pytest.mark.parametrize("command", [
    ["forward", "Conv2d", "2", "3", "3", "--in", "1,2,6,6", "--dtype", "float64"],
    ["gradcheck", "Linear", "3", "2", "--in", "2,3"],
    ["compare", "ReflectionPad2d", "1", "--in", "1,2,3,3"],
    ["bench", "GELU", "--in", "8,8", "--repeat", "1"],
])
def test_cli_device_cuda(emulated, command):
    code, out, err = invoke([*command, "--device", "cuda", "--json"])
    assert code == 0, err
    assert json.loads(out).get("passed", True)


def test_cli_device_cuda_without_cuda_is_one_error_line(monkeypatch):
    monkeypatch.delenv("NNCHECK_CUDA_EMULATE", raising=False)
    cuda.reset()
    try:
        if cuda.is_available():
            pytest.skip("this machine has a CUDA device")
        code, out, err = invoke(["forward", "ReLU", "--in", "2,3", "--device", "cuda"])
    finally:
        cuda.reset()
    assert code == 2 and not out
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: --device cuda: CUDA is not available")


def test_factories_state_dict_and_device_errors(emulated):
    import nncheck.nn as nn

    z = nncheck.zeros(2, 3, device="cuda")
    assert z.device == nncheck.device("cuda:0") and z.is_cuda and not z.cpu().numpy().any()
    np.testing.assert_array_equal(nncheck.tensor([1.0, 2.0], device="cuda").cpu().numpy(),
                                  [1.0, 2.0])
    assert nncheck.ones_like(z).is_cuda and nncheck.arange(4, device="cuda").is_cuda
    with pytest.raises(TypeError, match="can't convert cuda:0 device type tensor to numpy"):
        z.numpy()
    with pytest.raises(RuntimeError, match="Expected all tensors to be on the same device"):
        z + nncheck.ones(2, 3)

    model = nn.Linear(3, 2).cuda()
    state = model.state_dict()
    assert list(state) == ["weight", "bias"] and all(v.is_cuda for v in state.values())
    host = nn.Linear(3, 2)
    host.load_state_dict({k: v.cpu() for k, v in state.items()})
    np.testing.assert_array_equal(host.weight.detach().numpy(),
                                  model.weight.detach().cpu().numpy())
    again = nn.Linear(3, 2).cuda()
    again.load_state_dict(host.state_dict())
    assert again.weight.is_cuda
    np.testing.assert_array_equal(again.bias.detach().cpu().numpy(), host.bias.detach().numpy())
    x = nncheck.randn(4, 3, device="cuda", requires_grad=True)
    again(x).sum().backward()
    assert x.grad.is_cuda and again.weight.grad.is_cuda


# ---------------------------------------------------------------- loss options on the device
# The registry examples use each loss's defaults; these cover the other kernel paths
# (reductions none/sum/rows, weights, smoothing, ignored targets, soft targets, swap, p).
def _loss_cases():
    import nncheck.nn.functional as F

    rng = np.random.default_rng(3)
    x, y, v = (rng.standard_normal((3, 4)) for _ in range(3))
    p, q = rng.uniform(0.05, 0.95, (3, 4)), rng.uniform(0.05, 0.95, (3, 4))
    sign = np.where(rng.standard_normal((3, 4)) > 0, 1.0, -1.0)
    scores, img = rng.standard_normal((3, 5)), rng.standard_normal((2, 4, 3, 2))
    labels, img_labels = np.array([0, 4, 2]), np.array([[[1, 3], [0, 2], [3, 3]]] * 2)
    multi = np.array([[3, 0, -1, 1, 1], [1, 2, 4, 0, -1], [-1, 0, 0, 0, 0]])
    soft = rng.uniform(0, 1, (3, 5))
    lp = np.log(rng.dirichlet(np.ones(4), (6, 2)))

    def const(array, like):  # a non-differentiable operand on the device of ``like``
        return nncheck.from_numpy(array).to(like.device)

    return {
        "mse_none": (lambda a, b: F.mse_loss(a, b, reduction="none"), [x, y]),
        "l1_sum": (lambda a, b: F.l1_loss(a, b, reduction="sum"), [x, y]),
        "smooth_l1_beta": (lambda a, b: F.smooth_l1_loss(a, b, beta=0.5), [x, y]),
        "huber_none": (lambda a, b: F.huber_loss(a, b, reduction="none", delta=0.7), [x, y]),
        "bce_weight": (lambda a, b: F.binary_cross_entropy(
            a, b, const(v * v, a), reduction="none"), [p, q]),
        "bce_logits_pos_weight": (lambda a, b: F.binary_cross_entropy_with_logits(
            a, b, pos_weight=const(p, a)), [x, q]),
        "kl_div_log_target": (lambda a, b: F.kl_div(a, b, reduction="batchmean",
                                                    log_target=True), [x, y]),
        "kl_div": (lambda a, b: F.kl_div(a, b, reduction="sum"), [x, q]),
        "poisson_full": (lambda a, b: F.poisson_nll_loss(a, b, log_input=False, full=True),
                         [p, 3 * q]),
        "gaussian_full": (lambda a, b, c: F.gaussian_nll_loss(a, b, c, full=True,
                                                              reduction="sum"), [x, y, p]),
        "soft_margin_none": (lambda a: F.soft_margin_loss(a, nncheck.from_numpy(sign).to(
            a.device), reduction="none"), [x]),
        "hinge_sum": (lambda a: F.hinge_embedding_loss(a, nncheck.from_numpy(sign).to(
            a.device), margin=0.5, reduction="sum"), [x]),
        "margin_ranking": (lambda a, b: F.margin_ranking_loss(a, b, nncheck.from_numpy(
            sign).to(a.device), margin=0.3, reduction="none"), [x, y]),
        "multilabel_soft_margin_rows": (lambda a: F.multilabel_soft_margin_loss(
            a, nncheck.from_numpy(q > 0.5).to(a.device).double(), reduction="none"), [x]),
        "cross_entropy_options": (lambda a: F.cross_entropy(
            a, const(img_labels, a), const(p[0], a), ignore_index=3, label_smoothing=0.2,
            reduction="mean"), [img]),
        "cross_entropy_rows_none": (lambda a: F.cross_entropy(
            a, nncheck.from_numpy(labels).to(a.device), reduction="none"), [scores]),
        "cross_entropy_soft": (lambda a, b: F.cross_entropy(a, b, label_smoothing=0.1),
                               [scores, soft]),
        "nll_none_ignore": (lambda a: F.nll_loss(a, nncheck.from_numpy(img_labels).to(
            a.device), ignore_index=1, reduction="none"), [img]),
        "multi_margin_p2_weight": (lambda a: F.multi_margin_loss(
            a, nncheck.from_numpy(labels).to(a.device), p=2, margin=0.5,
            weight=nncheck.from_numpy(soft[0]).to(a.device), reduction="sum"), [scores]),
        "multilabel_margin_none": (lambda a: F.multilabel_margin_loss(
            a, nncheck.from_numpy(multi).to(a.device), reduction="none"), [scores]),
        "cosine_embedding_none": (lambda a, b: F.cosine_embedding_loss(
            a, b, nncheck.from_numpy(sign[:, 0]).to(a.device), margin=0.2, reduction="none"),
            [x, y]),
        "triplet_swap_p1": (lambda a, b, c: F.triplet_margin_loss(a, b, c, p=1, swap=True,
                                                                   reduction="none"), [x, y, v]),
        "ctc_sum": (lambda a: F.ctc_loss(a, nncheck.from_numpy(np.array([[1, 2], [3, 3]])).to(
            a.device), [6, 5], [2, 2], reduction="sum"), [lp]),
    }


LOSS_CASES = _loss_cases()


def _equal_on_devices(fn, arrays):
    """fn's output and the gradients of its inputs (all differentiable) on the emulated
    device equal the CPU's (float64, 1e-12), and some CUDA kernel ran."""
    def run(device):
        inputs = [nncheck.from_numpy(a.copy()).to(device).requires_grad_() for a in arrays]
        out = fn(*inputs)
        cot = np.random.default_rng(1).standard_normal(tuple(out.shape))
        (out * nncheck.from_numpy(cot).to(device)).sum().backward()
        return [out.detach().cpu().numpy()] + [None if t.grad is None else t.grad.cpu().numpy()
                                              for t in inputs]

    want = run("cpu")
    before, fallbacks = launchers.stats["launches"], launchers.stats["host_fallbacks"]
    got = run("cuda")
    assert launchers.stats["launches"] > before
    assert launchers.stats["host_fallbacks"] == fallbacks, "a generic op ran on the host"
    for g, w in zip(got, want):
        assert (g is None) == (w is None)
        if w is not None:
            assert g.shape == w.shape
            np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-12 * max(1, np.abs(w).max()))


@pytest.mark.parametrize("case", sorted(LOSS_CASES))
def test_loss_options_on_emulated_cuda_equal_cpu(emulated, case):
    _equal_on_devices(*LOSS_CASES[case])


def _sparse_cases():
    import nncheck.nn.functional as F

    rng = np.random.default_rng(4)
    table = rng.standard_normal((10, 3))
    idx, flat = np.array([[1, 3, 3], [0, 9, 3]]), np.array([4, 2, 2, 7, 1, 2, 9, 0])
    offsets, psw = np.array([0, 3, 3, 6]), rng.standard_normal(8)

    def on(array, like):
        return nncheck.from_numpy(array).to(like.device)

    return {
        "embedding_padding_freq": (lambda w: F.embedding(
            on(idx, w), w, padding_idx=3, scale_grad_by_freq=True), [table]),
        "embedding_max_norm": (lambda w: F.embedding(on(idx, w), w, max_norm=1.0,
                                                     norm_type=1.5), [table]),
        "embedding_bag_sum_weights": (lambda w, s: F.embedding_bag(
            on(flat, w), w, on(offsets, w), mode="sum", per_sample_weights=s, padding_idx=2),
            [table, psw]),
        "embedding_bag_mean_freq": (lambda w: F.embedding_bag(
            on(flat, w), w, on(offsets, w), mode="mean", scale_grad_by_freq=True), [table]),
        "embedding_bag_max_last": (lambda w: F.embedding_bag(
            on(flat, w), w, on(np.array([0, 2, 8]), w), mode="max",
            include_last_offset=True), [table]),
        "one_hot": (lambda w: F.one_hot(on(flat, w), 10).to(w.dtype) @ w, [table]),
    }


SPARSE_CASES = _sparse_cases()


@pytest.mark.parametrize("case", sorted(SPARSE_CASES))
def test_sparse_options_on_emulated_cuda_equal_cpu(emulated, case):
    _equal_on_devices(*SPARSE_CASES[case])


def test_indices_on_another_device_raise(emulated):
    import nncheck.nn.functional as F

    with pytest.raises(RuntimeError, match="Expected all tensors to be on the same device"):
        F.embedding(nncheck.tensor([0, 1]), nncheck.randn(3, 2, device="cuda"))


def _distance_cases():
    import nncheck.nn.functional as F

    rng = np.random.default_rng(5)
    a, b = rng.standard_normal((4, 3, 5)), rng.standard_normal((4, 3, 5))
    a[0, :, 1] = 0  # a zero vector: the eps clamp of cosine_similarity / normalize
    return {
        **{f"pairwise_p{p}": (lambda x, y, p=p: F.pairwise_distance(x, y, p, keepdim=True),
                              [a[0], b[0]]) for p in (1.0, 3.0, 0.5, np.inf)},
        "pairwise_broadcast": (lambda x, y: F.pairwise_distance(x, y), [a[0], b[0, :1]]),
        "cosine_similarity_dim1": (lambda x, y: F.cosine_similarity(x, y, dim=1), [a, b]),
        **{f"normalize_p{p}": (lambda x, p=p: F.normalize(x, p, dim=2), [a])
           for p in (1.0, 2.0, np.inf)},
        **{f"pdist_p{p}": (lambda x, p=p: F.pdist(x, p), [b[0].T.copy()])
           for p in (1.0, 2.0, 1.5, np.inf)},
    }


DISTANCE_CASES = _distance_cases()


@pytest.mark.parametrize("case", sorted(DISTANCE_CASES))
def test_distance_options_on_emulated_cuda_equal_cpu(emulated, case):
    _equal_on_devices(*DISTANCE_CASES[case])


def _resample_cases():
    import nncheck.nn.functional as F

    rng = np.random.default_rng(6)
    x1, x2, x3 = (rng.standard_normal(s) for s in ((2, 3, 6), (2, 2, 5, 7), (1, 2, 3, 4, 5)))
    return {
        "nearest_1d": (lambda x: F.interpolate(x, 11), [x1]),
        "nearest_exact_2d": (lambda x: F.interpolate(x, (8, 4), mode="nearest-exact"), [x2]),
        "nearest_3d_scale": (lambda x: F.interpolate(x, scale_factor=1.7), [x3]),
        "linear_align": (lambda x: F.interpolate(x, 4, mode="linear", align_corners=True), [x1]),
        "bilinear_scale": (lambda x: F.interpolate(x, scale_factor=1.5, mode="bilinear"), [x2]),
        "bicubic_align": (lambda x: F.interpolate(x, (9, 5), mode="bicubic",
                                                  align_corners=True), [x2]),
        "trilinear": (lambda x: F.interpolate(x, (5, 2, 7), mode="trilinear"), [x3]),
        "area": (lambda x: F.interpolate(x, (3, 4), mode="area"), [x2]),
        "antialias_bilinear": (lambda x: F.interpolate(x, (3, 4), mode="bilinear",
                                                       antialias=True), [x2]),
        "antialias_bicubic": (lambda x: F.interpolate(x, (2, 9), mode="bicubic",
                                                      antialias=True), [x2]),
    }


RESAMPLE_CASES = _resample_cases()


@pytest.mark.parametrize("case", sorted(RESAMPLE_CASES))
def test_resample_modes_on_emulated_cuda_equal_cpu(emulated, case):
    _equal_on_devices(*RESAMPLE_CASES[case])


@pytest.mark.parametrize("size, shape", [(4, (2, 5, 3, 2)), (3, (1, 7, 4)), (1, (2, 3, 2, 2, 2))])
def test_local_response_norm_on_emulated_cuda_equals_cpu(emulated, size, shape):
    import nncheck.nn.functional as F

    x = np.random.default_rng(7).standard_normal(shape)
    _equal_on_devices(lambda t: F.local_response_norm(t, size, alpha=0.3, beta=0.6, k=1.5), [x])


def _attention_cases():
    import nncheck.nn.functional as F

    rng = np.random.default_rng(8)
    q, k, v = (rng.standard_normal((2, 4, 3, 5)) for _ in range(3))
    kv2 = rng.standard_normal((2, 2, 6, 5))  # two key/value heads shared by four query heads
    mask = rng.standard_normal((3, 3))
    keep = rng.random((2, 1, 3, 3)) > 0.3
    keep[..., 0] = True
    return {
        "sdpa_causal": (lambda a, b, c: F.scaled_dot_product_attention(a, b, c, is_causal=True),
                        [q, k, v]),
        "sdpa_float_mask_scale": (lambda a, b, c, m: F.scaled_dot_product_attention(
            a, b, c, attn_mask=m, scale=0.3), [q, k, v, mask]),
        "sdpa_bool_mask": (lambda a, b, c: F.scaled_dot_product_attention(
            a, b, c, attn_mask=nncheck.from_numpy(keep).to(a.device)), [q, k, v]),
        "sdpa_gqa": (lambda a, b, c: F.scaled_dot_product_attention(a, b, c, enable_gqa=True),
                     [q, kv2, kv2 * 0.5]),
    }


ATTENTION_CASES = _attention_cases()


@pytest.mark.parametrize("case", sorted(ATTENTION_CASES))
def test_attention_options_on_emulated_cuda_equal_cpu(emulated, case):
    _equal_on_devices(*ATTENTION_CASES[case])


def test_multihead_attention_weights_and_masks_on_emulated_cuda(emulated):
    """need_weights, key_padding_mask and dropout (the weights/values halves of the kernels)."""
    import nncheck.nn as nn

    rng = np.random.default_rng(9)
    x = rng.standard_normal((4, 2, 6))
    pad = nncheck.from_numpy(np.array([[False, False, True, False]] * 2))

    def run(device):
        nncheck.manual_seed(0)
        mha = nn.MultiheadAttention(6, 2, dropout=0.3).double().to(device)
        t = nncheck.from_numpy(x.copy()).to(device).requires_grad_()
        out, weights = mha(t, t, t, key_padding_mask=pad.to(device), average_attn_weights=False)
        (out.sum() + (weights * weights).sum()).backward()
        return [out.detach().cpu().numpy(), weights.detach().cpu().numpy(), t.grad.cpu().numpy(),
                mha.in_proj_weight.grad.cpu().numpy()]

    for got, want in zip(run("cuda"), run("cpu")):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12 * max(1, np.abs(want).max()))


@pytest.mark.parametrize("kind, kwargs", [
    ("LSTM", dict(num_layers=2, bidirectional=True, proj_size=2, dropout=0.4)),
    ("GRU", dict(num_layers=2, batch_first=True, bidirectional=True)),
    ("RNN", dict(nonlinearity="relu", bias=False)),
    ("packed", {}),
], ids=["lstm_proj_bidir_dropout", "gru_batch_first_bidir", "rnn_relu_no_bias", "packed_gru"])
def test_recurrent_options_on_emulated_cuda_equal_cpu(emulated, kind, kwargs):
    import nncheck.nn as nn
    from nncheck.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    rng = np.random.default_rng(10)
    x, h0 = rng.standard_normal((5, 3, 4)), rng.standard_normal((1, 3, 3))

    def run(device):
        nncheck.manual_seed(0)
        layer = getattr(nn, "GRU" if kind == "packed" else kind)(4, 3, **kwargs).double()
        layer = layer.train().to(device)
        t = nncheck.from_numpy(x.copy()).to(device).requires_grad_()
        if kind == "packed":
            packed = pack_padded_sequence(t, [5, 3, 2])
            out = pad_packed_sequence(layer(packed)[0])[0]
        elif kind == "RNN":
            out = layer(t, nncheck.from_numpy(h0).to(device))[0]
        else:
            out = layer(t)[0]
        (out * out).sum().backward()
        return [out.detach().cpu().numpy(), t.grad.cpu().numpy()] + [
            p.grad.cpu().numpy() for p in layer.parameters()]

    for got, want in zip(run("cuda"), run("cpu")):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12 * max(1, np.abs(want).max()))


def _grid_cases():
    import nncheck.nn.functional as F

    rng = np.random.default_rng(11)
    x2, x3 = rng.standard_normal((2, 3, 4, 5)), rng.standard_normal((1, 2, 3, 4, 3))
    g2, g3 = rng.uniform(-1.2, 1.2, (2, 3, 2, 2)), rng.uniform(-1.2, 1.2, (1, 2, 3, 2, 3))
    cases = {
        f"grid_sample_{mode}_{pad}_{'align' if align else 'noalign'}": (
            lambda x, g, m=mode, p=pad, a=align: F.grid_sample(x, g, m, p, a), [x2, g2])
        for mode in ("bilinear", "nearest", "bicubic") for pad in ("zeros", "border", "reflection")
        for align in (False, True) if (mode, align) != ("nearest", True)
    }
    cases["grid_sample_3d_reflection"] = (
        lambda x, g: F.grid_sample(x, g, "bilinear", "reflection", False), [x3, g3])
    cases["affine_grid_2d"] = (lambda t: F.affine_grid(t, (2, 3, 4, 5), align_corners=False),
                               [rng.standard_normal((2, 2, 3))])
    cases["affine_grid_3d"] = (lambda t: F.affine_grid(t, (1, 2, 3, 2, 4), align_corners=True),
                               [rng.standard_normal((1, 3, 4))])
    return cases


GRID_CASES = _grid_cases()


@pytest.mark.parametrize("case", sorted(GRID_CASES))
def test_grid_sample_and_affine_grid_on_emulated_cuda_equal_cpu(emulated, case):
    _equal_on_devices(*GRID_CASES[case])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_global_average_pooling_launchers(emulated, dtype):
    """The CPU pooling module's global_avg_* pair (adaptive pooling to size 1) on the device."""
    from nncheck.cuda.launchers import pooling

    rng = np.random.default_rng(12)
    x, g = rng.standard_normal((5, 300)).astype(dtype), rng.standard_normal(5).astype(dtype)
    out, grad_in = cuda.DeviceArray.empty((5,), dtype), cuda.DeviceArray.empty((5, 300), dtype)
    pooling.global_avg_forward(cuda.DeviceArray.from_numpy(x), out)
    pooling.global_avg_backward(cuda.DeviceArray.from_numpy(g), grad_in)
    tol = 1e-12 if dtype == np.float64 else 1e-6
    np.testing.assert_allclose(out.numpy(), x.mean(1, dtype=np.float64), rtol=tol, atol=tol)
    np.testing.assert_allclose(grad_in.numpy(), np.repeat(g[:, None] / 300, 300, 1), rtol=tol)
