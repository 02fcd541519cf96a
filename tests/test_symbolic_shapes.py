"""Symbolic sizes through whole models (nncheck.shapes.analyze, `shape`/`summary` --in N,3,H,W).

The property: for models of many kinds and random concrete sizes, the stated conditions
(constraints and guards, as the Python text --json prints) hold exactly when a real forward
of nncheck on tensors of those sizes succeeds, and then the output shapes are the formulas
evaluated there.  The real forward is the oracle, never the analysis itself.
"""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nncheck
import nncheck.nn as nn
import nncheck.nn.functional as F
from nncheck.cli import main
from nncheck.shapes import analyze

SIZES = st.integers(1, 40)
PROPERTY = settings(max_examples=20, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


def real_forward(model, shape):
    """The output shapes of a real forward on zeros, or None when it fails."""
    with nncheck.no_grad():
        try:
            out = model(nncheck.zeros(*shape))
        except (ValueError, RuntimeError, IndexError):
            return None
    return [tuple(t.shape) for t in (out if isinstance(out, tuple) else (out,))]


def check_sizes(model, dims, result, sizes):
    """Stated conditions hold <=> the real forward succeeds, with the stated shapes."""
    shape = tuple(sizes[d] if isinstance(d, str) else d for d in dims)
    real = real_forward(model, shape)
    stated = result.accepts(**sizes)
    if result.smallest is not None:  # the simplified text says what the raw conditions say
        raw = all(eval(c.python, {"__builtins__": {}, "min": min, "max": max},  # noqa: S307
                       sizes) for c in result.conditions)
        assert stated == raw, (sizes, result.constraints, [c.python for c in result.conditions])
    assert stated == (real is not None), (sizes, result.constraints, result.guards)
    if real is not None:
        assert result.output_at(**sizes) == real, sizes


# --------------------------------------------------------------------------- conv/pool chains
def window_layer(draw, channels):
    kind = draw(st.sampled_from(["conv", "max", "avg"]))
    k = draw(st.integers(1, 5))
    s = draw(st.integers(1, 3))
    if kind == "conv":
        d = draw(st.integers(1, 2))
        p = draw(st.integers(0, 2))
        return nn.Conv2d(channels, channels, k, stride=s, padding=p, dilation=d)
    p = draw(st.integers(0, k // 2))
    ceil = draw(st.booleans())
    if kind == "max":
        return nn.MaxPool2d(k, s, p, dilation=draw(st.integers(1, 2)), ceil_mode=ceil)
    return nn.AvgPool2d(k, s, p, ceil_mode=ceil)


@st.composite
def conv_pool_chains(draw):
    layers = [window_layer(draw, 2) for _ in range(draw(st.integers(1, 3)))]
    return nn.Sequential(*layers)


@PROPERTY
@given(conv_pool_chains(), st.lists(st.tuples(SIZES, SIZES), min_size=4, max_size=4))
def test_conv_pool_chains_accept_exactly_what_runs(model, sizes):
    dims = (1, 2, "H", "W")
    result = analyze(model, dims)
    assert result.failure is None or result.smallest is None
    for h, w in sizes:
        check_sizes(model, dims, result, {"H": h, "W": w})


# --------------------------------------------------------------------------- U-Net style
class TinyUNet(nn.Module):
    """Two levels down, two up, skip concatenations; ``pad_fix`` pads the upsampled map to
    the skip's size (sizes that are not multiples of 4), as the common U-Net code does."""

    def __init__(self, pad_fix, crop=False):
        super().__init__()
        self.pad_fix, self.crop = pad_fix, crop
        self.enc = nn.ModuleList([nn.Conv2d(1, 2, 3, padding=1), nn.Conv2d(2, 2, 3, padding=1)])
        self.pool = nn.MaxPool2d(2)
        self.ups = nn.ModuleList([nn.ConvTranspose2d(2, 2, 2, stride=2) for _ in range(2)])
        self.dec = nn.ModuleList([nn.Conv2d(4, 2, 3, padding=1) for _ in range(2)])

    def forward(self, x):
        skips = []
        for conv in self.enc:
            x = F.relu(conv(x))
            skips.append(x)
            x = self.pool(x)
        for up, conv, skip in zip(self.ups, self.dec, reversed(skips)):
            x = up(x)
            dy, dx = skip.size(2) - x.size(2), skip.shape[-1] - x.shape[-1]
            if self.pad_fix:
                x = F.pad(x, [dx // 2, dx - dx // 2, dy // 2, dy - dy // 2])
            elif self.crop:  # centre-crop the skip instead (the original U-Net)
                skip = skip[:, :, dy // 2:dy // 2 + x.size(2), dx // 2:dx // 2 + x.size(3)]
            x = conv(nncheck.cat([skip, x], dim=1))
        return x


@pytest.mark.parametrize("pad_fix,crop,expected", [
    (False, False, ["H % 4 == 0", "W % 4 == 0"]),
    (True, False, ["H >= 4", "W >= 4"]),
    (False, True, ["H >= 4", "W >= 4"]),
])
def test_unet_skip_connections(pad_fix, crop, expected):
    model = TinyUNet(pad_fix, crop)
    dims = (1, 1, "H", "W")
    result = analyze(model, dims)
    assert result.failure is None and result.guards == []
    assert result.constraints == expected
    assert result.smallest == {"H": 4, "W": 4}
    for h in range(1, 21):
        check_sizes(model, dims, result, {"H": h, "W": 12})


# --------------------------------------------------------------------------- Flatten + Linear
def lenet():
    return nn.Sequential(nn.Conv2d(1, 6, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5),
                         nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(16 * 5 * 5, 120),
                         nn.ReLU(), nn.Linear(120, 10))


def test_lenet_takes_32_to_35_pixels_a_side():
    result = analyze(lenet(), ("N", 1, "H", "H"))
    assert result.constraints == ["32 <= H <= 35"] and result.guards == []
    assert result.smallest == {"N": 1, "H": 32}
    assert [str(s) for s in result.output_shapes[0]] == ["N", "10"]
    for h in range(26, 40):
        check_sizes(lenet(), (2, 1, "H", "H"), analyze(lenet(), (2, 1, "H", "H")), {"H": h})


@PROPERTY
@given(st.integers(1, 3), st.integers(1, 3), st.integers(1, 200),
       st.lists(st.tuples(SIZES, SIZES), min_size=4, max_size=4))
def test_flatten_linear_in_features(kernel, stride, features, sizes):
    model = nn.Sequential(nn.Conv2d(1, 2, kernel, stride=stride), nn.Flatten(),
                          nn.Linear(features, 3))
    dims = (1, 1, "H", "W")
    result = analyze(model, dims)
    if result.smallest is None:  # no size gives 2*h*w == features: the Linear is named
        assert "Linear" in result.failure and "no input size works" in result.failure
    for h, w in sizes:
        check_sizes(model, dims, result, {"H": h, "W": w})


def test_impossible_model_names_the_layer_at_fault():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(7, 2))  # 2*h*w is even
    result = analyze(model, (1, 1, "H", "W"))
    assert result.smallest is None
    assert result.failure.startswith("no input size works: 2 (Linear)")


# --------------------------------------------------------------------------- pixel shuffle
@PROPERTY
@given(st.integers(1, 3), st.integers(1, 3), st.lists(st.tuples(SIZES, SIZES), min_size=4,
                                                      max_size=4))
def test_pixel_unshuffle_then_shuffle(down, up, sizes):
    channels = down * down
    model = nn.Sequential(nn.PixelUnshuffle(down), nn.Conv2d(channels, up * up, 1),
                          nn.PixelShuffle(up))
    dims = (1, 1, "H", "W")
    result = analyze(model, dims)
    for h, w in sizes:
        check_sizes(model, dims, result, {"H": h, "W": w})


# --------------------------------------------------------------------------- transposed conv
@PROPERTY
@given(st.integers(1, 4), st.integers(1, 3), st.integers(0, 3), st.integers(1, 2),
       st.integers(0, 2), st.lists(st.tuples(SIZES, SIZES), min_size=4, max_size=4))
def test_transposed_convolutions(kernel, stride, padding, dilation, extra, sizes):
    output_padding = min(extra, max(stride, dilation) - 1)
    model = nn.Sequential(nn.Conv2d(1, 2, 3, stride=2),
                          nn.ConvTranspose2d(2, 1, kernel, stride=stride, padding=padding,
                                             output_padding=output_padding, dilation=dilation))
    dims = (1, 1, "H", "W")
    result = analyze(model, dims)
    for h, w in sizes:
        check_sizes(model, dims, result, {"H": h, "W": w})


# --------------------------------------------------------------------------- branches
class Branchy(nn.Module):
    """Pools only inputs wider than 16, then needs a fixed flattened size."""

    def __init__(self):
        super().__init__()
        self.pool = nn.MaxPool2d((1, 2))
        self.head = nn.Linear(16, 2)

    def forward(self, x):
        if x.size(-1) > 16:
            x = self.pool(x)
        return self.head(x.flatten(1))


@pytest.mark.parametrize("hint,guard,constraints", [
    (None, "W <= 16", ["W == 8"]),
    (20, "W >= 17", ["16 <= W <= 17"]),
])
def test_branch_on_the_input_size_is_a_guard(hint, guard, constraints):
    dims = (1, 2, 1, "W")
    result = analyze(Branchy(), dims, hints={"W": hint} if hint else None)
    assert result.guards == [guard] and result.constraints == constraints
    for w in range(1, 40):  # where the guard holds, the conditions are exact
        if eval(guard, {}, {"W": w}):  # noqa: S307
            check_sizes(Branchy(), dims, result, {"W": w})


# --------------------------------------------------------------------------- ViT-like
class TinyViT(nn.Module):
    """Patch embedding, class token, a fixed-size position embedding."""

    def __init__(self, image=8, patch=4, dim=6):
        super().__init__()
        self.embed = nn.Conv2d(1, dim, patch, stride=patch)
        self.cls = nn.Parameter(nncheck.zeros(1, 1, dim))
        self.pos = nn.Parameter(nncheck.zeros(1, (image // patch) ** 2 + 1, dim))
        self.head = nn.Linear(dim, 3)

    def forward(self, x):
        x = self.embed(x).flatten(2).transpose(1, 2)
        x = nncheck.cat([self.cls.expand(x.shape[0], -1, -1), x], dim=1) + self.pos
        return self.head(x[:, 0])


def test_vit_position_embedding_fixes_the_patch_count():
    result = analyze(TinyViT(), ("N", 1, "H", "H"))
    assert result.constraints == ["8 <= H <= 11"] and result.smallest == {"N": 1, "H": 8}
    result = analyze(TinyViT(), (2, 1, "H", "W"))
    assert result.smallest == {"H": 8, "W": 8}  # 2x2 patches (1x4 needs W >= 16)
    for h in range(1, 20):
        check_sizes(TinyViT(), (2, 1, "H", "W"), result, {"H": h, "W": 8})


# --------------------------------------------------------------------------- size arithmetic
class Reshaper(nn.Module):
    """view(b, -1), unflatten with -1 (divisibility), a half-width crop, expand."""

    def __init__(self, rows):
        super().__init__()
        self.rows = rows

    def forward(self, x):
        b = x.size(0)
        half = x[..., : x.shape[-1] // 2]
        y = half.flatten(2).unflatten(2, (self.rows, -1))  # rows must divide h*(w//2)
        z = y.view(b, -1)
        return z.unsqueeze(1).expand(b, 3, z.size(1))


@PROPERTY
@given(st.integers(1, 6), st.lists(st.tuples(SIZES, SIZES), min_size=6, max_size=6))
def test_view_unflatten_expand_arithmetic(rows, sizes):
    model = Reshaper(rows)
    dims = (2, 1, "H", "W")
    result = analyze(model, dims)
    assert result.guards == []
    for h, w in sizes:
        check_sizes(model, dims, result, {"H": h, "W": w})


# --------------------------------------------------------------------------- user subclasses
class LayerNorm2d(nn.LayerNorm):
    """Overrides forward: LayerNorm's shape rule no longer describes it, its code runs."""

    def forward(self, x):
        x = F.layer_norm(x.permute(0, 2, 3, 1), self.normalized_shape, self.weight, self.bias)
        return x.permute(0, 3, 1, 2)


def test_a_subclass_that_overrides_forward_runs_its_own_code():
    model = nn.Sequential(nn.Conv2d(1, 4, 3, stride=2), LayerNorm2d(4))
    dims = (1, 1, "H", "W")
    result = analyze(model, dims)
    assert result.failure is None and result.constraints == ["H >= 3", "W >= 3"]
    for h in range(1, 9):
        check_sizes(model, dims, result, {"H": h, "W": 5})
    wrong = analyze(nn.Sequential(nn.Conv2d(1, 4, 3), LayerNorm2d(5)), dims)
    assert wrong.smallest is None and "layer_norm" in wrong.failure


# --------------------------------------------------------------------------- CLI
def _invoke(argv, capsys):
    try:
        main(argv)
        code = 0
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def test_summary_json_with_named_sizes(capsys):
    spec = "Conv2d(1,6,5) ReLU() MaxPool2d(2) Conv2d(6,16,5) MaxPool2d(2) Flatten() Linear(400,10)"
    code, out, _ = _invoke(["summary", spec, "--in", "N,1,H,H", "--json"], capsys)
    assert code == 0
    report = json.loads(out)
    assert report["constraints"] == ["32 <= H <= 35"] and report["guards"] == []
    assert report["smallest"] == {"N": 1, "H": 32}
    # MaxPool2d(2) after Conv2d(1,6,5): floor(((H-4) - 2)/2) + 1, PyTorch's formula
    assert report["layers"][2]["output_shapes"] == [["N", 6, "floor((H-6)/2)+1",
                                                      "floor((H-6)/2)+1"]]
    assert {c["layer"] for c in report["conditions"]} >= {"0 (Conv2d)", "6 (Linear)"}


def test_summary_explain_and_no_size_works(capsys):
    code, out, _ = _invoke(["summary", "Conv2d(1,2,3) MaxPool2d(2)", "--in", "1,1,H,W",
                            "--explain"], capsys)
    assert code == 0 and "accepts   H >= 4; W >= 4" in out and "1 (MaxPool2d): " in out
    code, _, err = _invoke(["summary", "Conv2d(1,2,3) Flatten() Linear(7,2)", "--in", "1,1,H,W"],
                           capsys)
    assert code == 2 and err.startswith("Error: no input size works: 2 (Linear)")


def test_named_sizes_import_sympy_only_when_used():
    import subprocess
    import sys

    code = ("import sys\nfrom nncheck.cli import main\n"
            "sys.argv = ['nncheck', 'summary', 'Conv2d(1,2,3) ReLU()', '--in', '1,1,8,8']\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\nprint('sympy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip().endswith("False"), out.stderr
