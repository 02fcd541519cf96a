"""GPU check of nncheck's CUDA kernels: every family's forward/backward vs PyTorch on CPU,
then timings against PyTorch on the same card.

For a machine with a GPU (the lent H100/H200 image has torch, cuda-bindings and NVRTC):

    python scripts/gpu_check.py            # correctness (float64 and float32) + benchmarks
    python scripts/gpu_check.py --no-bench --only conv pooling

Correctness: float64 must match PyTorch's float64 CPU result to rtol 1e-9; float32 inputs
(rounded) to rtol 1e-5 of the tensor's scale. Prints one table row per check and exits 1 on
any mismatch. Benchmarks (TF32 off everywhere): ReLU/GELU over 1 GiB vs a device-to-device
copy, our 4096^3 GEMM vs torch.matmul, Conv2d N64 C64 56x56 -> 64 3x3 pad 1 fwd+bwd vs cuDNN.

tests/test_cuda.py runs the same cases: on a GPU through CudaBackend, and without one
through DryBackend, which executes nothing but checks every launch's argument sizes against
the parameter table of the compiled CUBIN.
"""
# The reference lambdas are called at once inside torch_ref, so late binding is harmless:
# ruff: noqa: B023

import argparse
import math
import struct
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nncheck import cuda  # noqa: E402
from nncheck.cuda import _driver, _nvrtc  # noqa: E402

THREADS = 256


# ---------------------------------------------------------------- backends

class CudaBackend:
    """Runs the kernels on GPU 0."""

    executes = True

    def __init__(self):
        cuda.get_device(0)
        self.launches = 0

    def array(self, shape, dtype):
        return cuda.DeviceArray.zeros(shape, dtype)

    def upload(self, host):
        return cuda.DeviceArray.from_numpy(host)

    def download(self, dev):
        return dev.numpy()

    def kernel(self, family, name, dtype):
        kernel = cuda.get_kernel(family, name, dtype)

        def launch(grid, block, *args):
            self.launches += 1
            kernel(grid, block, *args)
        return launch

    def blocks(self, n, threads=THREADS):
        return cuda.grid_for(n, threads)


def _kernel_param_sizes(image):
    """{lowered name: [parameter sizes]} from a CUBIN's .nv.info.<kernel> EIATTR_KPARAM_INFO."""
    shoff, = struct.unpack_from("<Q", image, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", image, 0x3A)
    sections = [struct.unpack_from("<IIQQQQIIQQ", image, shoff + i * shentsize)
                for i in range(shnum)]
    names = sections[shstrndx][4]
    out = {}
    for sec in sections:
        start = names + sec[0]
        name = image[start:image.index(b"\0", start)].decode()
        if not name.startswith(".nv.info."):
            continue
        data, i, params = image[sec[4]:sec[4] + sec[5]], 0, {}
        while i < len(data):
            fmt, attr = data[i], data[i + 1]
            if fmt == 4:  # EIFMT_SVAL: u16 size + payload
                size, = struct.unpack_from("<H", data, i + 2)
                if attr == 0x17:  # EIATTR_KPARAM_INFO
                    _, ordinal, _, word = struct.unpack_from("<IHHI", data, i + 4)
                    params[ordinal] = (word >> 18) & 0x3FFF
                i += 4 + size
            else:
                i += 4
        out[name[len(".nv.info."):]] = [params[k] for k in sorted(params)]
    return out


class DryBackend:
    """Executes nothing: checks each launch's packed argument sizes against the CUBIN."""

    executes = False

    def __init__(self, arch="sm_90", options=()):
        self.arch, self.options = arch, tuple(options)
        self.launches, self.errors, self._programs = 0, [], {}

    def array(self, shape, dtype):
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        return cuda.DeviceArray(None, 1 << 20, shape, dtype, None)

    def upload(self, host):
        return self.array(np.shape(host), np.asarray(host).dtype)

    def download(self, dev):
        return np.zeros(dev.shape, dev.dtype)

    def kernel(self, family, name, dtype):
        if family not in self._programs:
            program = _nvrtc.compile_family(family, self.arch, self.options)
            self._programs[family] = (program, _kernel_param_sizes(program.image))
        program, table = self._programs[family]
        expr = _nvrtc.name_expression(name, np.dtype(dtype).name)
        lowered = program.lowered.get(expr) or program.lowered.get(name)
        stub = _driver.Kernel.__new__(_driver.Kernel)
        stub.name, stub.dtype = f"{family}.{expr}", np.dtype(dtype)
        stub._param_sizes = table.get(lowered)

        def launch(grid, block, *args):
            self.launches += 1
            if stub._param_sizes is None:
                self.errors.append(f"{stub.name}: not in the CUBIN")
                return
            try:
                stub._check_params(stub._pack(args))
            except TypeError as exc:
                self.errors.append(str(exc))
        return launch

    def blocks(self, n, threads=THREADS):
        return max(1, min(-(-int(n) // threads), 132 * 32))


# ---------------------------------------------------------------- case plumbing

class Case:
    """One family's check at one dtype: uploads, launches, and (label, got, want) triples."""

    def __init__(self, backend, dtype, rng):
        self.b, self.dtype, self.rng = backend, np.dtype(dtype), rng
        self.results = []

    def randn(self, *shape, scale=1.0):
        return (self.rng.standard_normal(shape) * scale).astype(self.dtype)

    def up(self, host):
        host = np.asarray(host)
        if host.dtype.kind == "f":
            host = host.astype(self.dtype)
        return self.b.upload(np.ascontiguousarray(host))

    def new(self, shape, dtype=None):
        return self.b.array(shape, self.dtype if dtype is None else dtype)

    def run(self, family, name, n, *args, threads=THREADS, blocks=None):
        """Launch a grid-stride kernel over n items (or exactly `blocks` blocks)."""
        grid = self.b.blocks(n, threads) if blocks is None else blocks
        self.b.kernel(family, name, self.dtype)(grid, threads, *args)

    def warp_rows(self, family, name, rows, *args):
        """Launch a one-warp-per-row kernel."""
        self.run(family, name, 0, *args, blocks=max(1, -(-rows // (THREADS // 32))))

    def check(self, label, got, want):
        self.results.append((label, got, np.asarray(want)))


def torch_ref(fn, arrays, grad_of=(0,), rng=None, grad_out=None):
    """PyTorch float64 forward + backward: (output, grad_out, [input grads])."""
    import torch

    ts = []
    for i, a in enumerate(arrays):
        a = np.asarray(a)
        t = torch.from_numpy(a.astype(np.float64) if a.dtype.kind == "f" else a.copy())
        ts.append(t.requires_grad_(i in grad_of))
    out = fn(*ts)
    g = grad_out if grad_out is not None else rng.standard_normal(tuple(out.shape))
    out.backward(torch.from_numpy(np.asarray(g, np.float64)))
    grads = [ts[i].grad.numpy() if ts[i].grad is not None else np.zeros(ts[i].shape)
             for i in grad_of]
    return out.detach().numpy(), np.asarray(g), grads


def gemm(c, trans_a, trans_b, A, B, C, M, N, K, lda, ldb, ldc, bias=None, bias_mode=0,
         batch=1, strides=(0, 0, 0), alpha=1.0, beta=0.0):
    """C = alpha op(A) op(B) + beta C (+ bias), batched: linear.cu's tiled GEMM."""
    name = f"gemm_{'t' if trans_a else 'n'}{'t' if trans_b else 'n'}"
    grid = (-(-N // 128), -(-M // 128), batch)
    c.b.kernel("linear", name, c.dtype)(grid, THREADS, A, B, C, bias, M, N, K, lda, ldb, ldc,
                                        *strides, alpha, beta, bias_mode)


def view(arr, elements, shape):
    return arr.offset(elements, shape)


# ---------------------------------------------------------------- activation

ELEMENTWISE = {  # kernel name: (a, b, torch reference)
    "relu": (0, 0, lambda F, x: F.relu(x)),
    "leaky_relu": (0.1, 0, lambda F, x: F.leaky_relu(x, 0.1)),
    "elu": (1.3, 0, lambda F, x: F.elu(x, 1.3)),
    "celu": (0.75, 0, lambda F, x: F.celu(x, 0.75)),  # 0.75: exact in float, as torch keeps alpha
    "selu": (0, 0, lambda F, x: F.selu(x)),
    "sigmoid": (0, 0, lambda F, x: x.sigmoid()),
    "tanh": (0, 0, lambda F, x: x.tanh()),
    "hardtanh": (-0.5, 0.8, lambda F, x: F.hardtanh(x, -0.5, 0.8)),
    "hardsigmoid": (0, 0, lambda F, x: F.hardsigmoid(x)),
    "hardswish": (0, 0, lambda F, x: F.hardswish(x)),
    "silu": (0, 0, lambda F, x: F.silu(x)),
    "mish": (0, 0, lambda F, x: F.mish(x)),
    "softplus": (1.5, 2.0, lambda F, x: F.softplus(x, 1.5, 2.0)),
    "softsign": (0, 0, lambda F, x: F.softsign(x)),
    "logsigmoid": (0, 0, lambda F, x: F.logsigmoid(x)),
    "hardshrink": (0.5, 0, lambda F, x: F.hardshrink(x, 0.5)),
    "softshrink": (0.5, 0, lambda F, x: F.softshrink(x, 0.5)),
    "tanhshrink": (0, 0, lambda F, x: F.tanhshrink(x)),
    "threshold": (0.1, -2.0, lambda F, x: F.threshold(x, 0.1, -2.0)),
    "gelu": (0, 0, lambda F, x: F.gelu(x)),
    "gelu_tanh": (0, 0, lambda F, x: F.gelu(x, approximate="tanh")),
}


def case_activation(c):
    import torch.nn.functional as F

    n = 1003  # not a multiple of 4: exercises the scalar tail after the vector loop
    for name, (a, b, ref) in ELEMENTWISE.items():
        x = c.randn(n, scale=3)
        out, g, (dx,) = torch_ref(lambda t, r=ref: r(F, t), [x], rng=c.rng)
        dev_x, dev_g = c.up(x), c.up(g)
        y, d = c.new(n), c.new(n)
        c.run("activation", f"{name}_forward", n, dev_x, y, n, float(a), float(b))
        c.run("activation", f"{name}_backward", n, dev_x, dev_g, d, n, float(a), float(b))
        c.check(f"{name} fwd", y, out)
        c.check(f"{name} bwd", d, dx)
        # a view one element in: misaligned for 16-byte loads, takes the scalar path
        y1 = c.new(n - 1)
        c.run("activation", f"{name}_forward", n, view(dev_x, 1, (n - 1,)), y1, n - 1,
              float(a), float(b))
        c.check(f"{name} fwd unaligned", y1, out[1:])

    for shape, dim, log in (((3, 37, 5), 1, False), ((4, 100), 1, True), ((2, 3, 40), 2, False)):
        x = c.randn(*shape, scale=2)
        fn = F.log_softmax if log else F.softmax
        out, g, (dx,) = torch_ref(lambda t, f=fn, d=dim: f(t, d), [x], rng=c.rng)
        outer = int(np.prod(shape[:dim]))
        inner = int(np.prod(shape[dim + 1:]))
        y, d = c.new(shape), c.new(shape)
        c.warp_rows("activation", "softmax_forward", outer * inner, c.up(x), y, outer,
                    shape[dim], inner, int(log))
        c.warp_rows("activation", "softmax_backward", outer * inner, y, c.up(g), d, outer,
                    shape[dim], inner, int(log))
        c.check(f"{'log_' if log else ''}softmax{shape} dim={dim} fwd", y, out)
        c.check(f"{'log_' if log else ''}softmax{shape} dim={dim} bwd", d, dx)

    for cw in (3, 1):
        x, w = c.randn(4, 3, 5), (c.rng.random(cw) * 0.5).astype(c.dtype)
        out, g, (dx, dw) = torch_ref(F.prelu, [x, w], grad_of=(0, 1), rng=c.rng)
        dev_x, dev_w, dev_g = c.up(x), c.up(w), c.up(g)
        y, d, gw = c.new(x.shape), c.new(x.shape), c.new(cw)
        c.run("activation", "prelu_forward", x.size, dev_x, dev_w, y, x.size, 3, 5, cw)
        c.run("activation", "prelu_backward_input", x.size, dev_x, dev_w, dev_g, d, x.size, 3,
              5, cw)
        c.run("activation", "prelu_backward_weight", 0, dev_x, dev_g, gw, 4, 3, 5, cw,
              blocks=cw)
        c.check(f"prelu(w={cw}) fwd", y, out)
        c.check(f"prelu(w={cw}) bwd input", d, dx)
        c.check(f"prelu(w={cw}) bwd weight", gw, dw)

    x = c.randn(4, 6, 5)
    out, g, (dx,) = torch_ref(lambda t: F.glu(t, 1), [x], rng=c.rng)
    y, d = c.new(out.shape), c.new(x.shape)
    dev_x = c.up(x)
    c.run("activation", "glu_forward", out.size, dev_x, y, 4, 3, 5)
    c.run("activation", "glu_backward", out.size, dev_x, c.up(g), d, 4, 3, 5)
    c.check("glu fwd", y, out)
    c.check("glu bwd", d, dx)


# ---------------------------------------------------------------- linear

def case_linear(c):
    import torch.nn.functional as F

    for M, K, N in ((37, 53, 29), (300, 150, 260)):
        x, w, bias = c.randn(M, K), c.randn(N, K), c.randn(N)
        out, g, (dx, dw, db) = torch_ref(F.linear, [x, w, bias], grad_of=(0, 1, 2), rng=c.rng)
        X, W, Bv, G = c.up(x), c.up(w), c.up(bias), c.up(g)
        y, d, gw, gb = c.new((M, N)), c.new((M, K)), c.new((N, K)), c.new(N)
        gemm(c, False, True, X, W, y, M, N, K, K, K, N, bias=Bv, bias_mode=1)
        gemm(c, False, False, G, W, d, M, K, N, N, K, K)
        gemm(c, True, False, G, X, gw, N, K, M, N, K, K)
        c.run("linear", "sum_rows", N, G, gb, M, N, 0)
        c.check(f"linear {M}x{K}->{N} fwd", y, out)
        c.check(f"linear {M}x{K}->{N} bwd input", d, dx)
        c.check(f"linear {M}x{K}->{N} bwd weight", gw, dw)
        c.check(f"linear {M}x{K}->{N} bwd bias", gb, db)

    a, b = c.randn(70, 130), c.randn(140, 70)  # C = a^T b^T, alpha/beta
    c0 = c.randn(130, 140)
    C = c.up(c0)
    gemm(c, True, True, c.up(a), c.up(b), C, 130, 140, 70, 130, 70, 140, alpha=0.5, beta=2.0)
    c.check("gemm_tt alpha=0.5 beta=2", C, 0.5 * a.astype(np.float64).T @ b.T.astype(np.float64)
            + 2 * c0)

    N_, I, J, O = 7, 4, 5, 3
    x1, x2, w, bias = c.randn(N_, I), c.randn(N_, J), c.randn(O, I, J), c.randn(O)
    out, g, (dx1, dx2, dw, db) = torch_ref(F.bilinear, [x1, x2, w, bias], grad_of=(0, 1, 2, 3),
                                           rng=c.rng)
    X1, X2, W, G = c.up(x1), c.up(x2), c.up(w), c.up(g)
    tmp, y = c.new((O, N_, J)), c.new((N_, O))
    gemm(c, False, False, X1, W, tmp, N_, J, I, I, J, J, batch=O, strides=(0, I * J, N_ * J))
    c.run("linear", "bilinear_combine", N_ * O, tmp, X2, c.up(bias), y, N_, O, J)
    scaled, gw, ws = c.new((O, N_, J)), c.new((O, I, J)), c.new((O, N_, I))
    gx1, gx2, gb = c.new((N_, I)), c.new((N_, J)), c.new(O)
    c.run("linear", "bilinear_scale", O * N_ * J, G, X2, scaled, N_, O, J)
    gemm(c, True, False, X1, scaled, gw, I, J, N_, I, J, J, batch=O,
         strides=(0, N_ * J, I * J))
    gemm(c, False, True, scaled, W, ws, N_, I, J, J, J, I, batch=O,
         strides=(N_ * J, I * J, N_ * I))
    c.run("linear", "sum_rows", N_ * I, ws, gx1, O, N_ * I, 0)
    c.run("linear", "bilinear_grad_x2", N_ * J, tmp, G, gx2, N_, O, J)
    c.run("linear", "sum_rows", O, G, gb, N_, O, 0)
    for label, got, want in (("fwd", y, out), ("bwd x1", gx1, dx1), ("bwd x2", gx2, dx2),
                             ("bwd weight", gw, dw), ("bwd bias", gb, db)):
        c.check(f"bilinear {label}", got, want)


# ---------------------------------------------------------------- conv

def conv_out(size, k, s, p, d):
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


def conv_forward(c, X, W, Bv, x_shape, w_shape, stride, pad, dil, groups):
    """im2col + grouped batched GEMM; returns (out, col, window, out_shape)."""
    N, C, *sp = x_shape
    Cout, Cg, *ks = w_shape
    osz = [conv_out(s, k, st, p, d) for s, k, st, p, d in zip(sp, ks, stride, pad, dil)]
    win = cuda.window3(sp, osz, ks, stride, pad, dil)
    kvol, L = math.prod(ks), math.prod(osz)
    col = c.new((N, C * kvol, L))
    c.run("conv", "im2col", N * C * kvol * L, X, col, N * C * kvol * L, C, win)
    out = c.new((N, Cout, *osz))
    Co = Cout // groups
    for g in range(groups):
        gemm(c, False, False, view(W, g * Co * Cg * kvol, (Co, Cg * kvol)),
             view(col, g * Cg * kvol * L, (Cg * kvol, L)), view(out, g * Co * L, (Co, L)),
             Co, L, Cg * kvol, Cg * kvol, L, L,
             bias=None if Bv is None else view(Bv, g * Co, (Co,)),
             bias_mode=0 if Bv is None else 2, batch=N, strides=(0, C * kvol * L, Cout * L))
    return out, col, win, (N, Cout, *osz)


def conv_backward(c, G, W, col, win, x_shape, w_shape, groups, has_bias):
    N, C, *sp = x_shape
    Cout, Cg, *ks = w_shape
    kvol, L = math.prod(ks), col.shape[2]
    Co = Cout // groups
    colg, ws = c.new(col.shape), c.new((N, Cout, Cg * kvol))
    for g in range(groups):
        gemm(c, True, False, view(W, g * Co * Cg * kvol, (Co, Cg * kvol)),
             view(G, g * Co * L, (Co, L)), view(colg, g * Cg * kvol * L, (Cg * kvol, L)),
             Cg * kvol, L, Co, Cg * kvol, L, L, batch=N, strides=(0, Cout * L, C * kvol * L))
        gemm(c, False, True, view(G, g * Co * L, (Co, L)),
             view(col, g * Cg * kvol * L, (Cg * kvol, L)),
             view(ws, g * Co * Cg * kvol, (Co, Cg * kvol)), Co, Cg * kvol, L, L, L, Cg * kvol,
             batch=N, strides=(Cout * L, C * kvol * L, Cout * Cg * kvol))
    dx, dw = c.new(x_shape), c.new(w_shape)
    vol = math.prod(sp)
    c.run("conv", "col2im", N * C * vol, colg, dx, N * C * vol, C, win)
    c.run("linear", "sum_rows", Cout * Cg * kvol, ws, dw, N, Cout * Cg * kvol, 0)
    db = None
    if has_bias:
        db = c.new(Cout)
        c.run("linear", "sum_channels", 0, G, db, N, Cout, L, 0, blocks=Cout)
    return dx, dw, db


def case_conv(c):
    import torch.nn.functional as F

    configs = [  # x shape, w shape, stride, pad, dil, groups
        ((2, 4, 9, 8), (6, 2, 3, 2), (2, 1), (1, 1), (1, 2), 2),
        ((2, 3, 11), (4, 3, 3), (2,), (2,), (1,), 1),
        ((1, 2, 5, 6, 4), (3, 2, 2, 3, 2), (1, 2, 1), (1, 0, 1), (2, 1, 1), 1),
    ]
    fns = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
    for xs, wsh, st, pd, dl, gr in configs:
        x, w, bias = c.randn(*xs), c.randn(*wsh), c.randn(wsh[0])
        fn = fns[len(xs) - 2]
        out, g, (dx, dw, db) = torch_ref(
            lambda a, b, e, f=fn: f(a, b, e, st, pd, dl, gr), [x, w, bias], grad_of=(0, 1, 2),
            rng=c.rng)
        W = c.up(w)
        y, col, win, _ = conv_forward(c, c.up(x), W, c.up(bias), xs, wsh, st, pd, dl, gr)
        gx, gw, gb = conv_backward(c, c.up(g), W, col, win, xs, wsh, gr, True)
        tag = f"conv{len(xs) - 2}d{xs}"
        for label, got, want in (("fwd", y, out), ("bwd input", gx, dx),
                                 ("bwd weight", gw, dw), ("bwd bias", gb, db)):
            c.check(f"{tag} {label}", got, want)

    # transposed convolution: col2im(W^T x) + bias
    xs, wsh, st, pd = (2, 4, 5, 4), (4, 3, 3, 2), (2, 1), (1, 0)
    x, w, bias = c.randn(*xs), c.randn(*wsh), c.randn(3)
    out = torch_ref(lambda a, b, e: F.conv_transpose2d(a, b, e, st, pd), [x, w, bias],
                    rng=c.rng)[0]
    N, Cin, H, W_ = xs
    Cout, kvol, L = wsh[1], wsh[2] * wsh[3], H * W_
    colT, y = c.new((N, Cout * kvol, L)), c.new(out.shape)
    gemm(c, True, False, c.up(w), c.up(x), colT, Cout * kvol, L, Cin, Cout * kvol, L, L,
         batch=N, strides=(0, Cin * L, Cout * kvol * L))
    win = cuda.window3(out.shape[2:], (H, W_), wsh[2:], st, pd)
    c.run("conv", "col2im", y.size, colT, y, y.size, Cout, win)
    c.run("conv", "add_channel_bias", y.size, y, c.up(bias), y.size, Cout,
          out.shape[2] * out.shape[3])
    c.check("conv_transpose2d fwd", y, out)


# ---------------------------------------------------------------- pooling

def case_pooling(c):
    import torch.nn.functional as F

    for xs, k, s, p, d, ceil in (((2, 3, 9, 10), (3, 2), (2, 2), (1, 1), (1, 2), True),
                                 ((2, 2, 5, 6, 7), (2, 3, 2), (1, 2, 2), (0, 1, 1), (1, 1, 2),
                                  False)):
        nd = len(xs) - 2
        fn = F.max_pool2d if nd == 2 else F.max_pool3d
        x = c.randn(*xs)
        res = fn(_t(x), k, s, p, d, ceil_mode=ceil, return_indices=True)
        out, g, (dx,) = torch_ref(lambda t, f=fn: f(t, k, s, p, d, ceil_mode=ceil), [x],
                                  rng=c.rng)
        planes = xs[0] * xs[1]
        win = cuda.window3(xs[2:], out.shape[2:], k, s, p, d)
        y, idx, gx = c.new(out.shape), c.new(out.shape, np.int64), c.new(xs)
        c.run("pooling", "max_pool_forward", y.size, c.up(x), y, idx, planes, win)
        c.run("pooling", "max_pool_backward", x.size, c.up(g), idx, gx, planes, win)
        c.check(f"max_pool{nd}d fwd", y, out)
        c.check(f"max_pool{nd}d indices", idx, res[1].numpy())
        c.check(f"max_pool{nd}d bwd", gx, dx)


    # max_unpool2d with the indices of a non-overlapping pooling (unique per plane)
    x = c.randn(2, 3, 9, 10)
    _, ind = F.max_pool2d(_t(x), 2, 2, return_indices=True)
    vals = c.randn(*ind.shape)
    out, g, (dx,) = torch_ref(lambda t: F.max_unpool2d(t, ind, 2, 2, 0, (9, 10)), [vals],
                              rng=c.rng)
    y, gx, I = c.new(out.shape), c.new(vals.shape), c.up(ind.numpy())
    in_vol = math.prod(vals.shape[2:])
    c.run("pooling", "max_unpool_forward", vals.size, c.up(vals), I, y, 6, in_vol, 90)
    c.run("pooling", "max_unpool_backward", vals.size, c.up(g), I, gx, 6, in_vol, 90)
    c.check("max_unpool2d fwd", y, out)
    c.check("max_unpool2d bwd", gx, dx)

    for xs, k, s, p, ceil, cip, div in (((2, 3, 9, 10), (3, 2), (2, 2), (1, 1), True, False, None),
                                        ((2, 3, 7, 6), (3, 3), (2, 1), (1, 0), False, True, 5),
                                        ((2, 3, 11), (4,), (3,), (2,), True, True, None)):
        nd = len(xs) - 2
        x = c.randn(*xs)
        if nd == 1:
            fn = lambda t: F.avg_pool1d(t, k, s, p, ceil, cip)  # noqa: E731
        else:
            fn = lambda t, cip=cip, div=div, ceil=ceil: F.avg_pool2d(  # noqa: E731
                t, k, s, p, ceil, cip, div)
        out, g, (dx,) = torch_ref(fn, [x], rng=c.rng)
        win = cuda.window3(xs[2:], out.shape[2:], k, s, p)
        y, gx = c.new(out.shape), c.new(xs)
        c.run("pooling", "avg_pool_forward", y.size, c.up(x), y, xs[0] * xs[1], win, int(cip),
              div or 0)
        c.run("pooling", "avg_pool_backward", x.size, c.up(g), gx, xs[0] * xs[1], win, int(cip),
              div or 0)
        c.check(f"avg_pool{nd}d{xs} fwd", y, out)
        c.check(f"avg_pool{nd}d{xs} bwd", gx, dx)

    for xs, osz in (((2, 3, 10, 7), (4, 3)), ((1, 2, 5, 9, 6), (2, 4, 3))):
        nd = len(xs) - 2
        x = c.randn(*xs)
        planes = xs[0] * xs[1]
        win = cuda.window3(xs[2:], osz)
        afn = F.adaptive_avg_pool2d if nd == 2 else F.adaptive_avg_pool3d
        mfn = F.adaptive_max_pool2d if nd == 2 else F.adaptive_max_pool3d
        out, g, (dx,) = torch_ref(lambda t, f=afn: f(t, osz), [x], rng=c.rng)
        y, gx = c.new(out.shape), c.new(xs)
        c.run("pooling", "adaptive_avg_pool_forward", y.size, c.up(x), y, planes, win)
        c.run("pooling", "adaptive_avg_pool_backward", x.size, c.up(g), gx, planes, win)
        c.check(f"adaptive_avg_pool{nd}d fwd", y, out)
        c.check(f"adaptive_avg_pool{nd}d bwd", gx, dx)
        out, g, (dx,) = torch_ref(lambda t, f=mfn: f(t, osz), [x], rng=c.rng)
        y, idx, gx = c.new(out.shape), c.new(out.shape, np.int64), c.new(xs)
        c.run("pooling", "adaptive_max_pool_forward", y.size, c.up(x), y, idx, planes, win)
        c.run("pooling", "adaptive_max_pool_backward", x.size, c.up(g), idx, gx, planes, win)
        c.check(f"adaptive_max_pool{nd}d fwd", y, out)
        c.check(f"adaptive_max_pool{nd}d bwd", gx, dx)


def _t(a):
    import torch

    return torch.from_numpy(np.asarray(a, np.float64))


# ---------------------------------------------------------------- padding

def case_padding(c):
    import torch.nn.functional as F

    modes = {"constant": 0, "reflect": 1, "replicate": 2, "circular": 3}
    for xs, pad, mode in (((2, 3, 5, 6), (2, 1, 1, 3), "constant"),
                          ((2, 3, 5, 6), (2, 1, 1, 3), "reflect"),
                          ((2, 3, 5, 6), (3, 4, 0, 2), "replicate"),
                          ((2, 3, 5, 6), (2, 1, 3, 1), "circular"),
                          ((1, 2, 3, 4, 5), (1, 0, 2, 1, -1, 2), "constant"),
                          ((2, 3, 7), (3, 2), "reflect")):
        x = c.randn(*xs)
        value = 0.5 if mode == "constant" else 0.0
        kwargs = {"value": value} if mode == "constant" else {}
        out, g, (dx,) = torch_ref(lambda t, m=mode, pd=pad, kw=kwargs: F.pad(t, pd, m, **kw),
                                  [x], rng=c.rng)
        nd = len(pad) // 2
        spatial = xs[len(xs) - nd:]
        before = [pad[2 * (nd - 1 - i)] for i in range(nd)]  # F.pad lists the last dim first
        planes = math.prod(xs[:len(xs) - nd])
        win = cuda.window3(spatial, out.shape[len(xs) - nd:], pad=before)
        y, gx = c.new(out.shape), c.new(xs)
        c.run("padding", "pad_forward", y.size, c.up(x), y, planes, win, modes[mode], value)
        c.run("padding", "pad_backward", y.size, c.up(g), gx, planes, win, modes[mode])
        c.check(f"pad {mode}{pad} fwd", y, out)
        c.check(f"pad {mode}{pad} bwd", gx, dx)


# ---------------------------------------------------------------- normalization

def case_normalization(c):
    import torch.nn.functional as F

    N, C, inner, eps = 4, 3, 10, 1e-5
    x, w, bias = c.randn(N, C, inner), c.randn(C), c.randn(C)
    for training in (True, False):
        rm, rv = c.randn(C), (c.rng.random(C) + 0.5).astype(c.dtype)
        rm_t, rv_t = _t(rm).clone(), _t(rv).clone()
        out, g, (dx, dw, db) = torch_ref(
            lambda a, b, e: F.batch_norm(a, rm_t, rv_t, b, e, training, 0.1, eps),
            [x, w, bias], grad_of=(0, 1, 2), rng=c.rng)
        X, W, Bv, G = c.up(x), c.up(w), c.up(bias), c.up(g)
        mean, var = (c.new(C), c.new(C)) if training else (c.up(rm), c.up(rv))
        RM, RV = c.up(rm), c.up(rv)
        if training:
            c.run("normalization", "batch_norm_stats", 0, X, mean, var, N, C, inner, blocks=C)
            c.run("normalization", "batch_norm_update_running", C, mean, var, RM, RV, C,
                  N * inner, 0.1)
        y, gx, sdy, sdx = c.new(x.shape), c.new(x.shape), c.new(C), c.new(C)
        c.run("normalization", "batch_norm_forward", x.size, X, mean, var, W, Bv, y, x.size, C,
              inner, eps)
        c.run("normalization", "batch_norm_backward_reduce", 0, G, X, mean, var, sdy, sdx, N, C,
              inner, eps, blocks=C)
        c.run("normalization", "batch_norm_backward_input", x.size, G, X, mean, var, W, sdy, sdx,
              gx, N, C, inner, eps, int(training))
        tag = f"batch_norm({'train' if training else 'eval'})"
        for label, got, want in (("fwd", y, out), ("bwd input", gx, dx), ("bwd weight", sdx, dw),
                                 ("bwd bias", sdy, db)):
            c.check(f"{tag} {label}", got, want)
        if training:
            c.check(f"{tag} running_mean", RM, rm_t.numpy())
            c.check(f"{tag} running_var", RV, rv_t.numpy())

    M, D = 6, 50
    x, w, bias = c.randn(M, D), c.randn(D), c.randn(D)
    for rms in (False, True):
        if rms:
            fn = lambda a, b: F.rms_norm(a, (D,), b, eps)  # noqa: E731
            arrays, grads = [x, w], (0, 1)
        else:
            fn = lambda a, b, e: F.layer_norm(a, (D,), b, e, eps)  # noqa: E731
            arrays, grads = [x, w, bias], (0, 1, 2)
        out, g, got = torch_ref(fn, arrays, grad_of=grads, rng=c.rng)
        X, W, G = c.up(x), c.up(w), c.up(g)
        y, mean, rstd = c.new((M, D)), c.new(M), c.new(M)
        gx, gw, gb = c.new((M, D)), c.new(D), c.new(D)
        c.run("normalization", "layer_norm_forward", 0, X, W, None if rms else c.up(bias), y,
              mean, rstd, M, D, eps, int(rms), blocks=M)
        c.run("normalization", "layer_norm_backward_input", 0, G, X, W, mean, rstd, gx, M, D,
              int(rms), blocks=M)
        c.run("normalization", "layer_norm_backward_params", D, G, X, mean, rstd, gw,
              None if rms else gb, M, D)
        tag = "rms_norm" if rms else "layer_norm"
        c.check(f"{tag} fwd", y, out)
        c.check(f"{tag} bwd input", gx, got[0])
        c.check(f"{tag} bwd weight", gw, got[1])
        if not rms:
            c.check(f"{tag} bwd bias", gb, got[2])

    N, C, inner = 3, 6, 7
    x, w, bias = c.randn(N, C, inner), c.randn(C), c.randn(C)
    for G_, name in ((2, "group_norm"), (C, "instance_norm")):
        if G_ == C:
            fn = lambda a, b, e: F.instance_norm(a, weight=b, bias=e, eps=eps)  # noqa: E731
        else:
            fn = lambda a, b, e, gg=G_: F.group_norm(a, gg, b, e, eps)  # noqa: E731
        out, g, (dx, dw, db) = torch_ref(fn, [x, w, bias], grad_of=(0, 1, 2), rng=c.rng)
        X, W, Gr = c.up(x), c.up(w), c.up(g)
        y, mean, rstd = c.new(x.shape), c.new(N * G_), c.new(N * G_)
        gx, gw, gb = c.new(x.shape), c.new(C), c.new(C)
        c.run("normalization", "group_norm_forward", 0, X, W, c.up(bias), y, mean, rstd, N, C,
              inner, G_, eps, blocks=N * G_)
        c.run("normalization", "group_norm_backward_input", 0, Gr, X, W, mean, rstd, gx, N, C,
              inner, G_, blocks=N * G_)
        c.run("normalization", "group_norm_backward_params", 0, Gr, X, mean, rstd, gw, gb, N, C,
              inner, G_, blocks=C)
        for label, got, want in (("fwd", y, out), ("bwd input", gx, dx), ("bwd weight", gw, dw),
                                 ("bwd bias", gb, db)):
            c.check(f"{name} {label}", got, want)


# ---------------------------------------------------------------- dropout

def case_lrn(c):
    """normalization.cu's local response norm against PyTorch."""
    import torch.nn.functional as F

    d = np.float64
    N, C, S = 2, 7, 6
    x = c.randn(N, C, S)
    for size in (1, 4, 5):
        out, g, (dx,) = torch_ref(lambda t, s=size: F.local_response_norm(t, s, 0.3, 0.6, 1.5),
                                  [x], rng=c.rng)
        X, denom, y, scratch, gx = c.up(x), c.new(x.shape), c.new(x.shape), c.new(x.shape), \
            c.new(x.shape)
        c.run("normalization", "lrn_forward", x.size, X, N, C, S, size, d(0.3), d(0.6), d(1.5),
              denom, y)
        c.run("normalization", "lrn_backward_scratch", x.size, X, denom, c.up(g), x.size, d(0.6),
              scratch)
        c.run("normalization", "lrn_backward", x.size, X, denom, c.up(g), scratch, N, C, S, size,
              d(0.3), d(0.6), gx)
        c.check(f"local_response_norm(size={size}) fwd", y, out)
        c.check(f"local_response_norm(size={size}) bwd", gx, dx)


def case_attention(c):
    """attention.cu's steps (scores, softmax rows, values and their backward) vs PyTorch's SDPA:
    two query heads per key/value head, causal."""
    import torch.nn.functional as F

    d = np.float64
    B, Bk, L, S, E, Ev = 4, 2, 3, 5, 6, 4
    q, k, v = c.randn(B, L, E), c.randn(Bk, S, E), c.randn(Bk, S, Ev)
    scale, group = 0.4, B // Bk
    out, g, (dq, dk, dv) = torch_ref(lambda a, b, w: F.scaled_dot_product_attention(
        a, b.repeat_interleave(group, 0), w.repeat_interleave(group, 0), is_causal=True,
        scale=scale), [q, k, v], grad_of=(0, 1, 2), rng=c.rng)
    Q, K, V, G = c.up(q), c.up(k), c.up(v), c.up(g)
    probs, y = c.new((B, L, S)), c.new((B, L, Ev))
    c.run("attention", "attention_scores", B * L * S, Q, K, probs, B, L, S, E, group, d(scale))
    c.run("attention", "softmax_rows", B * L, probs, None, 0, B, L, S, 1, 1)
    c.run("attention", "values_forward", B * L * Ev, probs, V, y, B, L, S, Ev, group)
    c.check("sdpa causal gqa fwd", y, out)
    gs, gq, gk, gv = c.up(np.zeros((B, L, S))), c.new(q.shape), c.new(k.shape), c.new(v.shape)
    c.run("attention", "values_backward_probs", B * L * S, V, G, gs, B, L, S, Ev, group, 1)
    c.run("attention", "values_backward_v", Bk * S * Ev, probs, G, gv, Bk, L, S, Ev, group)
    c.run("attention", "softmax_backward_rows", B * L, probs, gs, B * L, S)
    c.run("attention", "attention_backward_q", B * L * E, gs, K, gq, B, L, S, E, group, d(scale))
    c.run("attention", "attention_backward_k", Bk * S * E, gs, Q, gk, Bk, L, S, E, group,
          d(scale))
    c.check("sdpa causal gqa bwd q", gq, dq)
    c.check("sdpa causal gqa bwd k", gk, dk)
    c.check("sdpa causal gqa bwd v", gv, dv)


def case_dropout(c):
    n, inner, p = 200_000, 1, 0.3
    x = c.randn(n)
    mask = c.new(n, np.uint8)
    c.run("dropout", "bernoulli_mask", n, mask, n, p, np.uint64(1234), np.uint64(0))
    y, X = c.new(n), c.up(x)
    c.run("dropout", "dropout_apply", n, X, mask, y, n, inner, 1 / (1 - p))
    m = c.b.download(mask).astype(np.float64)
    if c.b.executes:
        keep = m.mean()
        c.check("dropout keep rate within 5 sigma", np.array([abs(keep - (1 - p)) < 5 * math.sqrt(
            p * (1 - p) / n)]), np.array([True]))
    c.check("dropout apply", y, x * m / (1 - p))
    mask2 = c.new(n, np.uint8)  # same seed/offset, other grid: same mask
    c.run("dropout", "bernoulli_mask", n, mask2, n, p, np.uint64(1234), np.uint64(0),
          blocks=3)
    c.check("dropout mask reproducible", mask2, m.astype(np.uint8))

    planes, inner = 40, 25  # Dropout2d: one mask entry per plane
    x = c.randn(planes * inner)
    pm = c.new(planes, np.uint8)
    c.run("dropout", "bernoulli_mask", planes, pm, planes, 0.5, np.uint64(7), np.uint64(99))
    y = c.new(planes * inner)
    c.run("dropout", "dropout_apply", x.size, c.up(x), pm, y, x.size, inner, 2.0)
    keep = np.repeat(c.b.download(pm).astype(np.float64), inner)
    c.check("dropout2d apply", y, x * keep * 2)
    a, b, alpha_p = 1.2, 0.3, -1.7580993408473766
    y = c.new(planes * inner)
    c.run("dropout", "alpha_dropout_apply", x.size, c.up(x), pm, y, x.size, inner, a, b, alpha_p)
    c.check("alpha_dropout apply", y, a * np.where(keep > 0, x, alpha_p) + b)


# ---------------------------------------------------------------- sparse

def case_sparse(c):
    import torch.nn.functional as F

    V, D = 10, 7
    w = c.randn(V, D)
    idx = c.rng.integers(0, V, size=(5, 4))
    for pad, freq in ((None, False), (3, True)):
        out, g, (dw,) = torch_ref(
            lambda t: F.embedding(_long(idx), t, padding_idx=pad, scale_grad_by_freq=freq), [w],
            rng=c.rng)
        I = c.up(idx)
        y, gw = c.new(out.shape), c.new((V, D))
        counts = None
        if freq:
            counts = c.new(V, np.uint64)
            c.b.kernel("sparse", "embedding_count", c.dtype)(c.b.blocks(idx.size), THREADS, I,
                                                               counts, idx.size)
        c.run("sparse", "embedding_forward", out.size, c.up(w), I, y, idx.size, D)
        c.run("sparse", "embedding_backward", out.size, c.up(g), I, counts, gw, idx.size, D,
              -1 if pad is None else pad)
        c.check(f"embedding(pad={pad}, freq={freq}) fwd", y, out)
        c.check(f"embedding(pad={pad}, freq={freq}) bwd", gw, dw)

    flat = c.rng.integers(0, V, size=12)
    offsets = np.array([0, 3, 3, 7, 12])  # an empty bag; include_last_offset form
    psw = c.randn(12)
    for mode, code in (("sum", 0), ("mean", 1), ("max", 2)):
        use_psw = mode == "sum"
        arrays = [w, psw] if use_psw else [w]
        out, g, grads = torch_ref(
            lambda t, s=None, m=mode: F.embedding_bag(_long(flat), t, _long(offsets), mode=m,
                                                      per_sample_weights=s,
                                                      include_last_offset=True, padding_idx=2),
            arrays, grad_of=(0, 1) if use_psw else (0,), rng=c.rng)
        n_bags = len(offsets) - 1
        W, I, O, G = c.up(w), c.up(flat), c.up(offsets), c.up(g)
        P = c.up(psw) if use_psw else None
        y, arg, gw = c.new((n_bags, D)), c.new((n_bags, D), np.int64), c.new((V, D))
        c.run("sparse", "embedding_bag_forward", n_bags * D, W, I, O, P, y, arg, n_bags, D, code,
              2)
        c.run("sparse", "embedding_bag_backward", n_bags * D, G, I, O, P, arg, None, gw, n_bags,
              D, code, 2)
        c.check(f"embedding_bag {mode} fwd", y, out)
        c.check(f"embedding_bag {mode} bwd weight", gw, grads[0])
        if use_psw:
            gp = c.new(12)
            c.run("sparse", "embedding_bag_sample_weights_backward", 12, G, W, I, O, gp, 12,
                  n_bags, D, 2)
            c.check(f"embedding_bag {mode} bwd per_sample_weights", gp, grads[1])


def _long(a):
    import torch

    return torch.from_numpy(np.asarray(a, np.int64))


# ---------------------------------------------------------------- distance

def case_distance(c):
    """distance.cu's kernels (nncheck._kernels.distance's signatures, launched raw) vs PyTorch."""
    import torch
    import torch.nn.functional as F

    d = np.float64
    M, D = 9, 40
    for p in (2.0, 1.0, 3.0, 0.5, math.inf):
        x1, x2 = c.randn(M, D), c.randn(M, D)
        out, g, (d1, d2) = torch_ref(lambda a, b, p=p: F.pairwise_distance(a, b, p, 1e-6),
                                     [x1, x2], grad_of=(0, 1), rng=c.rng)
        y, diff, g1, g2 = c.new(M), c.new((M, D)), c.new((M, D)), c.new((M, D))
        c.run("distance", "pairwise_forward", M, c.up(x1), c.up(x2), M, D, d(1e-6), d(p), diff, y)
        c.run("distance", "pairwise_backward", M, diff, y, c.up(g), M, D, d(p), g1, g2, 1)
        c.check(f"pairwise_distance(p={p}) fwd", y, out)
        c.check(f"pairwise_distance(p={p}) bwd x1", g1, d1)
        c.check(f"pairwise_distance(p={p}) bwd x2", g2, d2)

    O, N, I = 3, 6, 4
    x1, x2 = c.randn(O, N, I), c.randn(O, N, I)
    x1[0, :, 0] = 0  # a zero vector: the eps clamp
    out, g, (d1, d2) = torch_ref(lambda a, b: F.cosine_similarity(a, b, 1, 1e-8), [x1, x2],
                                 grad_of=(0, 1), rng=c.rng)
    X1, X2 = c.up(x1), c.up(x2)
    y, n1, n2 = c.new((O, I)), c.new((O, I), np.float64), c.new((O, I), np.float64)
    g1, g2 = c.new(x1.shape), c.new(x1.shape)
    c.run("distance", "cosine_forward", O * I, X1, X2, O, N, I, d(1e-8), n1, n2, y)
    c.run("distance", "cosine_backward", O * I, X1, X2, n1, n2, y, c.up(g), O, N, I, d(1e-8),
          g1, g2)
    c.check("cosine_similarity fwd", y, out)
    c.check("cosine_similarity bwd x1", g1, d1)
    c.check("cosine_similarity bwd x2", g2, d2)

    for p in (2.0, 1.0, 3.0):
        out, g, (dx,) = torch_ref(lambda a, p=p: F.normalize(a, p, 1, 1e-12), [x1], rng=c.rng)
        y, norm, gx = c.new(x1.shape), c.new((O, I)), c.new(x1.shape)
        c.run("distance", "normalize_forward", O * I, X1, O, N, I, d(p), d(1e-12), norm, y)
        c.run("distance", "normalize_backward", O * I, X1, norm, c.up(g), O, N, I, d(p),
              d(1e-12), gx)
        c.check(f"normalize(p={p}) fwd", y, out)
        c.check(f"normalize(p={p}) bwd", gx, dx)

    xs = c.randn(7, 5)
    for p in (2.0, 1.0, 1.5, math.inf):
        out, g, (dx,) = torch_ref(lambda a, p=p: torch.pdist(a, p), [xs], rng=c.rng)
        y, gx = c.new(out.shape), c.new(xs.shape)
        c.run("distance", "pdist_forward", 7, c.up(xs), 7, 5, d(p), c.new(xs.shape), y)
        c.run("distance", "pdist_backward", 7, c.up(xs), y, c.up(g), 7, 5, d(p), gx)
        c.check(f"pdist(p={p}) fwd", y, out)
        c.check(f"pdist(p={p}) bwd", gx, dx)


# ---------------------------------------------------------------- loss

def case_loss(c):
    """loss.cu's kernels (the signatures of nncheck._kernels.loss, launched raw) vs PyTorch."""
    import torch.nn.functional as F

    n, d = 37, np.float64
    r = c.rng
    x, y = c.randn(n), c.randn(n)
    prob = (r.random(n) * 0.9 + 0.05).astype(c.dtype)
    target01 = (r.random(n) * 0.9 + 0.05).astype(c.dtype)
    sign = np.where(r.random(n) < 0.5, -1.0, 1.0).astype(c.dtype)
    pos = (r.random(n) * 2 + 0.1).astype(c.dtype)
    weight = (r.random(n) + 0.5).astype(c.dtype)
    cases = [  # kernel, inputs (x, y, z), grads wanted, a, b, c, weight, torch fn ('none')
        ("l1", (x, y, None), (0, 1), 0, 0, 0, None,
         lambda a, b: F.l1_loss(a, b, reduction="none")),
        ("mse", (x, y, None), (0, 1), 0, 0, 0, None,
         lambda a, b: F.mse_loss(a, b, reduction="none")),
        ("smooth_l1", (x, y, None), (0, 1), 0.5, 0, 0, None,
         lambda a, b: F.smooth_l1_loss(a, b, reduction="none", beta=0.5)),
        ("huber", (x, y, None), (0, 1), 0.7, 0, 0, None,
         lambda a, b: F.huber_loss(a, b, reduction="none", delta=0.7)),
        ("soft_margin", (x, sign, None), (0,), 0, 0, 0, None,
         lambda a, b: F.soft_margin_loss(a, b, reduction="none")),
        ("bce", (prob, target01, None), (0, 1), 0, 0, 0, weight,
         lambda a, b: F.binary_cross_entropy(a, b, _t(weight), reduction="none")),
        ("bce_logits_pw", (x, target01, pos), (0, 1), 0, 0, 0, weight,
         lambda a, b, p: F.binary_cross_entropy_with_logits(a, b, _t(weight), reduction="none",
                                                            pos_weight=p)),
        ("kl_div", (x, prob, None), (0,), 0, 0, 0, None,
         lambda a, b: F.kl_div(a, b, reduction="none")),
        ("kl_div_log", (x, y, None), (0, 1), 0, 0, 0, None,
         lambda a, b: F.kl_div(a, b, reduction="none", log_target=True)),
        ("poisson_log", (x, pos * 2, None), (0,), 0, 0, 1, None,
         lambda a, b: F.poisson_nll_loss(a, b, True, True, reduction="none")),
        ("poisson", (pos, pos * 2, None), (0,), 1e-8, 0, 0, None,
         lambda a, b: F.poisson_nll_loss(a, b, False, False, reduction="none")),
        ("gaussian_nll", (x, y, pos), (0, 1, 2), 1e-6, 0, 0.5 * np.log(2 * np.pi), None,
         lambda a, b, v: F.gaussian_nll_loss(a, b, v, True, 1e-6, reduction="none")),
        ("hinge_embedding", (x, sign, None), (0,), 0.6, 0, 0, None,
         lambda a, b: F.hinge_embedding_loss(a, b, 0.6, reduction="none")),
        ("margin_ranking", (x, y, sign), (0, 1), 0.2, 0, 0, None,
         lambda a, b, t: F.margin_ranking_loss(a, b, t, 0.2, reduction="none")),
    ]
    for name, (xa, ya, za), grads, a, b, cc, w, fn in cases:
        arrays = [xa, ya] if za is None else [xa, ya, za]
        out, _, got = torch_ref(fn, arrays, grad_of=grads, grad_out=np.ones(n))
        operands = [c.up(v) if v is not None else None for v in (xa, ya, za, w)]
        losses, units = c.new(n, d), [c.new(n) if i in grads else None for i in range(3)]
        c.run("loss", f"{name}_forward", n, *operands, losses, *units, None, n, d(1.0),
              d(a), d(b), d(cc))
        per, total = c.new(n), c.new(1)
        c.run("loss", "segment_sum", 0, losses, per, n, n, 1, d(1.0), threads=32, blocks=n)
        c.run("loss", "segment_sum", 0, losses, total, n, 1, n, d(n), blocks=1)
        c.check(f"{name} fwd", per, out)
        c.check(f"{name} mean", total, [out.mean()])
        for i in grads:
            c.check(f"{name} unit grad input[{i}]", units[i], got[grads.index(i)])

    N, C, inner = 5, 4, 3
    scores = c.randn(N, C, inner)
    target = r.integers(0, C, size=(N, inner))
    target[0, 0] = 2
    cw = (r.random(C) + 0.5).astype(c.dtype)
    for smoothing in (0.0, 0.2):
        out, _, (dx,) = torch_ref(lambda a, s=smoothing: F.cross_entropy(
            a, _long(target), _t(cw), ignore_index=2, label_smoothing=s, reduction="sum"),
            [scores], grad_out=np.array(1.0))
        loss, gx = c.new(N * inner), c.new(scores.shape)
        c.run("loss", "cross_entropy_forward", N * inner, c.up(scores), c.up(target), c.up(cw),
              N * inner, C, inner, 2, d(smoothing), d(1.0), loss, gx)
        c.check(f"cross_entropy(smoothing={smoothing}) fwd", _Host(c, loss, np.sum), out)
        c.check(f"cross_entropy(smoothing={smoothing}) unit grad", gx, dx)

    out, g, (dx,) = torch_ref(lambda a: F.nll_loss(a, _long(target), _t(cw), ignore_index=2,
                                                   reduction="none"), [scores], rng=c.rng)
    L, T, W = c.up(scores), c.up(target), c.up(cw)
    per, used, gx = c.new(N * inner), c.new(N * inner), c.up(np.zeros(scores.shape))
    c.run("loss", "nll_forward", N * inner, L, T, W, N * inner, C, inner, 2, per, used)
    c.run("loss", "nll_backward", N * inner, T, W, N * inner, C, inner, 2, c.up(g), 1, d(1.0),
          gx)
    c.check("nll fwd", per, out)
    c.check("nll bwd", gx, dx)

    x2, t2 = c.randn(6, 5), r.integers(0, 5, size=6)
    cw5 = (r.random(5) + 0.5).astype(c.dtype)
    for p in (1, 2):
        out, g, (dx,) = torch_ref(lambda a, p=p: F.multi_margin_loss(
            a, _long(t2), p, 0.8, _t(cw5), reduction="none"), [x2], rng=c.rng)
        loss, gx = c.new(6), c.new((6, 5))
        X2, T2, W5 = c.up(x2), c.up(t2), c.up(cw5)
        c.run("loss", "multi_margin_forward", 6, X2, T2, W5, 6, 5, p, d(0.8), loss)
        c.run("loss", "multi_margin_backward", 6, X2, T2, W5, 6, 5, p, d(0.8), c.up(g), 1,
              d(1.0), gx)
        c.check(f"multi_margin(p={p}) fwd", loss, out)
        c.check(f"multi_margin(p={p}) bwd", gx, dx)

    a1, a2 = c.randn(7, 9), c.randn(7, 9)
    ys = np.where(r.random(7) < 0.5, -1.0, 1.0).astype(c.dtype)
    out, g, (d1, d2) = torch_ref(lambda p, q: F.cosine_embedding_loss(p, q, _t(ys), 0.1,
                                                                      reduction="none"),
                                 [a1, a2], grad_of=(0, 1), rng=c.rng)
    loss, g1, g2 = c.new(7), c.new((7, 9)), c.new((7, 9))
    A1, A2, YS = c.up(a1), c.up(a2), c.up(ys)
    c.run("loss", "cosine_embedding_forward", 7, A1, A2, YS, 7, 9, d(0.1), loss)
    c.run("loss", "cosine_embedding_backward", 7, A1, A2, YS, 7, 9, d(0.1), c.up(g), 1, d(1.0),
          g1, g2)
    c.check("cosine_embedding fwd", loss, out)
    c.check("cosine_embedding bwd x1", g1, d1)
    c.check("cosine_embedding bwd x2", g2, d2)


def _mean_grad(fn, arrays, scale):
    """d(scale * mean(fn(...)))/d(first input) with PyTorch."""
    ts = [_t(a).requires_grad_(i == 0) for i, a in enumerate(arrays)]
    (fn(*ts).mean() * scale).backward()
    return ts[0].grad.numpy()


class _Host:
    """A device result post-processed on the host before the comparison."""

    def __init__(self, c, dev, fn):
        self.c, self.dev, self.fn = c, dev, fn


# ---------------------------------------------------------------- vision

def case_vision(c):
    import torch.nn.functional as F

    x = c.randn(2, 3, 5, 7)

    # the table-driven passes the layers run (tables planned by the CPU's *_table functions)
    from nncheck.nn.functional.vision import _axis_table

    P = 6
    # (antialiased tables: float64 only; the CPU's aa_taps refuses a float32 dtype today)
    for mode, aa in (("bilinear", False), ("area", False), ("bicubic", c.dtype == np.float64)):
        size = (3, 4) if mode == "area" or aa else (9, 12)
        out, g, (dx,) = torch_ref(lambda t, m=mode, a=aa, s=size: F.interpolate(
            t, s, mode=m, antialias=a), [x], rng=c.rng)
        (ih, wh), (iw, ww) = (_axis_table(mode, n, m, None, False, aa, 4, c.dtype)
                              for n, m in ((5, size[0]), (7, size[1])))
        IH, WH, IW, WW = c.up(ih), c.up(wh), c.up(iw), c.up(ww)
        tmp, y = c.new((P, 5, size[1])), c.new(out.shape)
        c.run("vision", "resample_pass", P * 5 * size[1], c.up(x), tmp, P * 5, 7, size[1], 1,
              IW, WW, iw.shape[1])
        c.run("vision", "resample_pass", y.size, tmp, y, P, 5, size[0], size[1], IH, WH,
              ih.shape[1])
        back, gx = c.up(np.zeros((P, 5, size[1]))), c.up(np.zeros(x.shape))
        c.run("vision", "resample_pass_transposed", y.size, c.up(g), back, P, size[0], 5,
              size[1], IH, WH, ih.shape[1])
        c.run("vision", "resample_pass_transposed", P * 5 * size[1], back, gx, P * 5, size[1],
              7, 1, IW, WW, iw.shape[1])
        c.check(f"resample_pass {mode}{' antialias' if aa else ''} fwd", y, out)
        c.check(f"resample_pass {mode}{' antialias' if aa else ''} bwd", gx, dx)

    # grid_sample (grid_sample_forward/backward and the bicubic pair)
    grid = (c.rng.uniform(-1.2, 1.2, (2, 3, 4, 2))).astype(c.dtype)
    P = 12
    for mode, code, pad, pcode in (("bilinear", 0, "zeros", 0), ("nearest", 1, "border", 1),
                                   ("bilinear", 0, "reflection", 2), ("bicubic", 2, "border", 1)):
        out, g, (dx, dg) = torch_ref(lambda t, q, m=mode, p=pad: F.grid_sample(
            t, q, m, p, align_corners=False), [x, grid], grad_of=(0, 1), rng=c.rng)
        X, G, GO = c.up(x), c.up(grid.reshape(2, P, 2)), c.up(g.reshape(2, 3, P))
        y, gx, gg = c.new((2, 3, P)), c.up(np.zeros(x.shape)), c.new((2, P, 2))
        if mode == "bicubic":
            c.run("vision", "grid_sample_bicubic_forward", 2 * P, X, G, y, 2, 3, 5, 7, P, pcode, 0)
            c.run("vision", "grid_sample_bicubic_backward", 2 * P, X, G, GO, gx, gg, 2, 3, 5, 7, P,
                  pcode, 0)
        else:
            c.run("vision", "grid_sample_forward", 2 * P, X, G, y, 2, 3, 1, 5, 7, P, 2, code,
                  pcode, 0)
            c.run("vision", "grid_sample_backward", 2 * P, X, G, GO, gx, gg, 2, 3, 1, 5, 7, P, 2,
                  code, pcode, 0)
        c.check(f"grid_sample {mode} {pad} fwd", y, out)
        c.check(f"grid_sample {mode} {pad} bwd input", gx, dx)
        if mode != "nearest":
            c.check(f"grid_sample {mode} {pad} bwd grid", gg, dg)


# ---------------------------------------------------------------- rnn

def case_rnn(c):
    """One step of each cell through rnn.cu's row kernels (the GEMMs are linear.cu's)."""
    import torch

    B, I, H = 4, 5, 6
    x, h0, c0 = c.randn(B, I), c.randn(B, H), c.randn(B, H)
    dh, dc = c.randn(B, H), c.randn(B, H)

    def torch_cell(cell):
        params = [p.detach().numpy().astype(c.dtype) for p in cell.parameters()]
        for p, v in zip(cell.parameters(), params):
            p.data = torch.from_numpy(v.astype(np.float64))
        return params

    def gates(W_ih, W_hh, b_ih, b_hh, G):
        """x W_ih^T + b_ih and h0 W_hh^T + b_hh, (B, G*H) each."""
        gx, gh = c.new((B, G * H)), c.new((B, G * H))
        gemm(c, False, True, c.up(x), c.up(W_ih), gx, B, G * H, I, I, I, G * H, bias=c.up(b_ih),
             bias_mode=1)
        gemm(c, False, True, c.up(h0), c.up(W_hh), gh, B, G * H, H, H, H, G * H,
             bias=c.up(b_hh), bias_mode=1)
        return gx, gh

    def input_and_state_grads(dg, dgh, W_ih, W_hh, dhp, G, beta=0.0):
        dx = c.new((B, I))
        gemm(c, False, False, dg, c.up(W_ih), dx, B, I, G * H, G * H, I, I)
        gemm(c, False, False, dgh, c.up(W_hh), dhp, B, H, G * H, G * H, H, H, beta=beta)
        return dx

    # LSTM: lstm_row keeps the activations in the gates; c0 becomes c1 in place
    cell = torch.nn.LSTMCell(I, H).double()
    W_ih, W_hh, b_ih, b_hh = torch_cell(cell)
    xt, ht, ct = (_t(a).requires_grad_() for a in (x, h0, c0))
    h1, c1 = cell(xt, (ht, ct))
    torch.autograd.backward([h1, c1], [_t(dh), _t(dc)])
    g, gh = gates(W_ih, W_hh, b_ih, b_hh, 4)
    cs, tc, cprev, hd = c.up(c0), c.new((B, H)), c.new((B, H)), c.new((B, H))
    c.run("rnn", "lstm_row", B * H, g, gh, cs, tc, cprev, hd, H, None, B, H)
    dg, dcs = c.new((B, 4 * H)), c.up(dc)
    c.run("rnn", "lstm_row_back", B * H, g, tc, cprev, c.up(dh), dcs, dg, B, H)
    dhp = c.new((B, H))
    dx = input_and_state_grads(dg, dg, W_ih, W_hh, dhp, 4)
    for label, got, want in (("h", hd, h1), ("c", cs, c1), ("bwd x", dx, xt.grad),
                             ("bwd h", dhp, ht.grad), ("bwd c", dcs, ct.grad)):
        c.check(f"lstm_row {label}", got, want.detach().numpy())

    # GRU: gh carries all of b_hh here, so the kernel's separate b_hn is zero
    cell = torch.nn.GRUCell(I, H).double()
    W_ih, W_hh, b_ih, b_hh = torch_cell(cell)
    xt, ht = (_t(a).requires_grad_() for a in (x, h0))
    h1 = cell(xt, ht)
    h1.backward(_t(dh))
    g, gh = gates(W_ih, W_hh, b_ih, b_hh, 3)
    hn, hd, hs, H0 = c.new((B, H)), c.new((B, H)), c.new((B, H)), c.up(h0)
    c.run("rnn", "gru_row", B * H, g, gh, c.up(np.zeros(H)), hn, H0, hd, H, hs, B, H)
    dgx, dgh, dhp = c.new((B, 3 * H)), c.new((B, 3 * H)), c.up(dh)
    c.run("rnn", "gru_row_back", B * H, g, hn, H0, dhp, dgx, dgh, B, H)
    dx = input_and_state_grads(dgx, dgh, W_ih, W_hh, dhp, 3, beta=1.0)
    for label, got, want in (("h", hd, h1), ("bwd x", dx, xt.grad), ("bwd h", dhp, ht.grad)):
        c.check(f"gru_row {label}", got, want.detach().numpy())

    # Elman RNN (tanh and relu)
    for nl in ("tanh", "relu"):
        cell = torch.nn.RNNCell(I, H, nonlinearity=nl).double()
        W_ih, W_hh, b_ih, b_hh = torch_cell(cell)
        xt, ht = (_t(a).requires_grad_() for a in (x, h0))
        h1 = cell(xt, ht)
        h1.backward(_t(dh))
        g, gh = gates(W_ih, W_hh, b_ih, b_hh, 1)
        hd, hs, dpre, dhp = c.new((B, H)), c.new((B, H)), c.new((B, H)), c.new((B, H))
        c.run("rnn", "rnn_row", B * H, g, gh, hd, H, hs, B, H, int(nl == "relu"))
        c.run("rnn", "rnn_row_back", B * H, g, c.up(dh), dpre, B, H, int(nl == "relu"))
        input_and_state_grads(dpre, dpre, W_ih, W_hh, dhp, 1)
        c.check(f"rnn_row({nl}) h", hd, h1.detach().numpy())
        c.check(f"rnn_row({nl}) bwd h", dhp, ht.grad.numpy())


# ---------------------------------------------------------------- generic tensor ops

def _ew_compute(c):
    from nncheck.cuda.launchers import elementwise as ew

    return ew.compute_code(c.dtype)


def case_elementwise(c):
    """elementwise.cu: strided copies and casts, broadcast binary/unary ufuncs on views,
    where, advanced-index gather/add -- what Tensor arithmetic and views run on the device."""
    from nncheck.cuda.launchers import elementwise as ew

    x, y = c.randn(3, 1, 5), c.randn(4, 5) + 3.0
    X, Y = c.up(x), c.up(y)
    Yt = c.up(y.T.copy()).T  # a transposed view: the kernels read strides
    shape, n = (3, 4, 5), 60
    for name in ("add", "subtract", "multiply", "divide", "maximum", "power", "remainder"):
        out = c.new(shape)
        c.run("elementwise", "ew_binary", n, *ew.operands(shape, Yt, X, out), n,
              ew.BINARY[name], _ew_compute(c))
        c.check(f"{name} broadcast, transposed operand", out, getattr(np, name)(y, x))
    for name in ("exp", "tanh", "sqrt", "floor", "negative"):
        out = c.new((4, 5))
        c.run("elementwise", "ew_unary", 20, *ew.operands((4, 5), Yt, out), 20, ew.UNARY[name],
              _ew_compute(c))
        c.check(f"{name} of a transposed view", out, getattr(np, name)(y))
    cmp = c.new(shape, np.bool_)
    c.run("elementwise", "ew_binary", n, *ew.operands(shape, X, 0.25, cmp), n,
          ew.BINARY["greater"], _ew_compute(c))
    c.check("greater than a scalar -> bool", cmp, np.broadcast_to(x > 0.25, shape))
    out = c.new(shape)
    c.run("elementwise", "ew_where", n, *ew.operands(shape, cmp, Yt, -1.5, out), n,
          _ew_compute(c))
    c.check("where(cond, view, scalar)", out, np.where(x > 0.25, y, -1.5))
    copied = c.new((5, 4))
    src, dst = ew.operands((5, 4), Yt.T, copied)
    c.run("elementwise", "strided_copy", 20, src, dst, 20, c.dtype.itemsize)
    c.check("strided copy of a transpose", copied, y.T)
    as_int = c.new((4, 5), np.int64)
    c.run("elementwise", "ew_unary", 20, *ew.operands((4, 5), Y, as_int), 20,
          ew.UNARY["identity"], _ew_compute(c))
    c.check("cast to int64", as_int, y.astype(np.int64))
    rows = np.array([2, 0, 2, 1])
    gathered = c.new((4, 5))
    base, idx, inner, total = ew._indexed(X.reshape(3, 5), [c.up(rows)], (4,))
    (o,) = ew.operands((4, 5), gathered)
    c.run("elementwise", "index_copy", total, base, idx, o, total, inner, c.dtype.itemsize, 0)
    c.check("gather rows x[idx]", gathered, x.reshape(3, 5)[rows])
    acc = c.up(np.zeros((3, 5), c.dtype))
    base, idx, inner, total = ew._indexed(acc, [c.up(rows)], (4,))
    (v,) = ew.operands((4, 5), Y)
    c.run("elementwise", "index_add", total, base, idx, v, total, inner, _ew_compute(c))
    want = np.zeros((3, 5))
    np.add.at(want, rows, y.astype(np.float64))
    c.check("np.add.at rows (atomic)", acc, want)


def case_reduction(c):
    """elementwise.cu reductions over axes of strided views: a block per row (tree reduction
    in shared memory) for long rows, a thread per row for short ones."""
    from nncheck.cuda.launchers import elementwise as ew

    x = c.randn(7, 300)
    x[3, 17] = x[3, 200]  # a tie: arg* keep the first
    X = c.up(x)
    for name, fn, out_dtype in (("sum", np.sum, None), ("max", np.max, None),
                                ("argmin", np.argmin, np.int64), ("any", np.any, np.bool_)):
        for axis, view, outer, inner in ((1, X, 7, 300), (0, X.T, 300, 7)):
            out = c.new((outer,), out_dtype)
            x_op = ew.Operand(view.ptr, ew.DTYPE_CODES[view.dtype], 0.0, 0, view.strided())
            (o,) = ew.operands((outer,), out)
            args = (x_op, o, outer, inner, ew.REDUCE[name], _ew_compute(c), 1)
            if inner >= 64:
                c.run("elementwise", "ew_reduce_block", 0, *args, 1, threads=256, blocks=outer)
            else:
                c.run("elementwise", "ew_reduce_serial", outer, *args)
            c.check(f"{name} over axis {axis} ({'block' if inner >= 64 else 'thread'} per row)",
                    out, fn(x.astype(np.float64) if fn is np.sum else x, axis=axis))
    mean = c.new((7,))
    x_op = ew.Operand(X.ptr, ew.DTYPE_CODES[X.dtype], 0.0, 0, X.strided())
    (o,) = ew.operands((7,), mean)
    c.run("elementwise", "ew_reduce_block", 0, x_op, o, 7, 300, ew.REDUCE["sum"],
          _ew_compute(c), 300, 1, threads=128, blocks=7)
    c.check("mean over axis 1 (128 threads)", mean, x.astype(np.float64).mean(1))
    parts = c.new((7, 3))
    (o,) = ew.operands((7, 3), parts)
    c.run("elementwise", "ew_reduce_block", 0, x_op, o, 7, 300, ew.REDUCE["max"],
          _ew_compute(c), 1, 3, threads=64, blocks=21)
    c.check("max of each row's thirds (a split row)", parts, x.reshape(7, 3, 100).max(2))


CASES = {
    "activation": case_activation, "linear": case_linear, "conv": case_conv,
    "pooling": case_pooling, "padding": case_padding, "normalization": case_normalization,
    "lrn": case_lrn, "attention": case_attention,
    "dropout": case_dropout, "sparse": case_sparse, "distance": case_distance,
    "loss": case_loss, "vision": case_vision, "rnn": case_rnn,
    "elementwise": case_elementwise, "reduction": case_reduction,
}


# ---------------------------------------------------------------- running the checks

def _tolerance(dtype, want):
    if np.dtype(dtype) == np.float64:
        return 1e-9, 1e-11
    scale = float(np.max(np.abs(want))) if want.size else 1.0
    return 1e-5, 1e-5 * max(scale, 1e-3)


def run_cases(backend, dtypes=(np.float64, np.float32), only=None, verbose=True):
    """Run every case; return the failure lines (empty when everything matches)."""
    failures, rows = [], []
    for dtype in dtypes:
        for family, fn in CASES.items():
            if only and family not in only:
                continue
            c = Case(backend, dtype, np.random.default_rng(0))
            try:
                fn(c)
            except Exception as exc:  # a launch or driver error fails the family, not the run
                failures.append(f"{np.dtype(dtype).name} {family}: {type(exc).__name__}: {exc}")
                rows.append((np.dtype(dtype).name, family, "ERROR", "", str(exc)[:60]))
                continue
            if not backend.executes:
                continue
            for label, got, want in c.results:
                if isinstance(got, _Host):
                    got = got.fn(backend.download(got.dev).astype(np.float64))
                elif not isinstance(got, np.ndarray):
                    got = backend.download(got)
                got = np.asarray(got).reshape(want.shape)
                if want.dtype.kind in "iub":
                    ok, err = bool(np.array_equal(got, want)), 0.0
                else:
                    rtol, atol = _tolerance(dtype, want)
                    diff = np.abs(got.astype(np.float64) - want)
                    ok = bool(np.all(diff <= atol + rtol * np.abs(want)))
                    err = float(np.max(diff / (atol + rtol * np.abs(want)))) if diff.size else 0
                rows.append((np.dtype(dtype).name, family, "ok" if ok else "MISMATCH",
                             f"{err:.2f}", label))
                if not ok:
                    failures.append(f"{np.dtype(dtype).name} {family} {label}: "
                                    f"error {err:.2f} x tolerance")
    if verbose and rows:
        print(f"{'dtype':8} {'family':14} {'result':9} {'err/tol':>8}  check")
        for row in rows:
            print(f"{row[0]:8} {row[1]:14} {row[2]:9} {row[3]:>8}  {row[4]}")
    return failures


# ---------------------------------------------------------------- benchmarks

def _best_ms(fn, sync, repeats=10):
    fn()
    sync()
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync()
        best = min(best, time.perf_counter() - t0)
    return best * 1e3


def bench():
    import torch
    import torch.nn.functional as F

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    dev = cuda.get_device(0)
    sync = dev.synchronize

    def both_sync():
        sync()
        torch.cuda.synchronize()

    rows = []
    n = (1 << 30) // 4  # 1 GiB of float32
    x, y = cuda.DeviceArray.empty(n, np.float32), cuda.DeviceArray.empty(n, np.float32)
    tx = torch.randn(n, device="cuda")
    _driver.call("cuMemcpyDtoD", x.ptr, tx.data_ptr(), n * 4)
    copy_ms = _best_ms(lambda: _driver.call("cuMemcpyDtoDAsync", y.ptr, x.ptr, n * 4, 0), sync)
    rows.append(("D2D copy 1 GiB", copy_ms, None, 2 * n * 4 / copy_ms / 1e6))
    for name, tfn in (("relu", torch.relu), ("gelu", F.gelu)):
        k = cuda.get_kernel("activation", f"{name}_forward", np.float32)
        grid = cuda.grid_for(n // 4)
        ms = _best_ms(lambda k=k, g=grid: k(g, THREADS, x, y, n, 0.0, 0.0), sync)
        tms = _best_ms(lambda f=tfn: f(tx), torch.cuda.synchronize)
        rows.append((f"{name} fwd 1 GiB f32", ms, tms, 2 * n * 4 / ms / 1e6))
    # generic tensor ops (elementwise.cu through DeviceArray's numpy protocol)
    ty = torch.empty_like(tx)
    ms = _best_ms(lambda: np.add(x, x, out=y), sync)
    tms = _best_ms(lambda: torch.add(tx, tx, out=ty), torch.cuda.synchronize)
    rows.append(("x + x fwd 1 GiB f32 (tensor op)", ms, tms, 2 * n * 4 / ms / 1e6))
    ms = _best_ms(lambda: np.sum(x), sync)
    tms = _best_ms(lambda: tx.sum(), torch.cuda.synchronize)
    rows.append(("sum fwd 1 GiB f32 (tensor op)", ms, tms, n * 4 / ms / 1e6))

    M = 4096
    a = torch.randn(M, M, device="cuda")
    b = torch.randn(M, M, device="cuda")
    A, B_, C = (cuda.DeviceArray.empty((M, M), np.float32) for _ in range(3))
    _driver.call("cuMemcpyDtoD", A.ptr, a.data_ptr(), M * M * 4)
    _driver.call("cuMemcpyDtoD", B_.ptr, b.data_ptr(), M * M * 4)
    gemm_k = cuda.get_kernel("linear", "gemm_nn", np.float32)
    args = (A, B_, C, None, M, M, M, M, M, M, 0, 0, 0, 1.0, 0.0, 0)
    ms = _best_ms(lambda: gemm_k((M // 128, M // 128, 1), THREADS, *args), sync, 5)
    tms = _best_ms(lambda: a @ b, torch.cuda.synchronize, 5)
    got = torch.empty(M, M, device="cuda")
    _driver.call("cuMemcpyDtoD", got.data_ptr(), C.ptr, M * M * 4)
    both_sync()
    rel = float((got - a @ b).abs().max() / (a @ b).abs().max())
    rows.append((f"GEMM 4096^3 f32 (max rel diff {rel:.1e})", ms, tms, 2 * M ** 3 / ms / 1e9))

    c = Case(CudaBackend(), np.float32, np.random.default_rng(0))
    xs, ws = (64, 64, 56, 56), (64, 64, 3, 3)
    xt = torch.randn(*xs, device="cuda", requires_grad=True)
    wt = torch.randn(*ws, device="cuda", requires_grad=True)
    bt = torch.randn(64, device="cuda", requires_grad=True)
    X, W, Bv = (c.up(t.detach().cpu().numpy()) for t in (xt, wt, bt))
    G = c.up(np.random.default_rng(1).standard_normal((64, 64, 56, 56)).astype(np.float32))
    gt = torch.from_numpy(c.b.download(G)).cuda()

    def ours():
        out, col, win, _ = conv_forward(c, X, W, Bv, xs, ws, (1, 1), (1, 1), (1, 1), 1)
        conv_backward(c, G, W, col, win, xs, ws, 1, True)

    def theirs():
        out = F.conv2d(xt, wt, bt, 1, 1)
        torch.autograd.grad(out, (xt, wt, bt), gt)

    ms = _best_ms(ours, sync, 5)
    tms = _best_ms(theirs, torch.cuda.synchronize, 5)
    flops = 3 * 2 * 64 * 64 * 56 * 56 * 64 * 9
    rows.append(("Conv2d 64x64x56x56 3x3 fwd+bwd f32", ms, tms, flops / ms / 1e9))

    print(f"\n{dev.name} ({dev.arch}), torch {torch.__version__}, TF32 off")
    print(f"{'case':44} {'nncheck ms':>11} {'torch ms':>9} {'ratio':>6} {'GB/s|TFLOP/s':>13}")
    for name, ms, tms, rate in rows:
        ratio = f"{ms / tms:6.2f}" if tms else "     -"
        tstr = f"{tms:9.3f}" if tms else "        -"
        unit = rate if "copy" in name or "fwd 1 GiB" in name else rate / 1e3
        print(f"{name:44} {ms:11.3f} {tstr} {ratio} {unit:13.1f}")


# ---------------------------------------------------------------- layers on the device

# float64: 1e-12 on the host emulation (the CI bar), 1e-10 on a GPU (its FMAs and summation
# orders differ from the CPU's); float32: 1e-5.  Both relative to the tensor's scale.
def layer_tolerance(dtype):
    if np.dtype(dtype) == np.float32:
        return 1e-5
    return 1e-12 if _driver.emulated() else 1e-10


class LayerSkipped(Exception):
    """The layer does not run on the device's kernels (yet): the reason, for the table."""


def _run_layer(module, arrays, wrt, device):
    """Outputs, and gradients of sum(out * cotangent) w.r.t. inputs ``wrt`` and parameters."""
    import nncheck

    inputs = []
    for i, a in enumerate(arrays):
        t = nncheck.from_numpy(a.copy()).to(device)
        inputs.append(t.requires_grad_() if i in wrt else t)
    nncheck.manual_seed(0)
    out = module(*inputs)
    outs = [o for o in (out if isinstance(out, (tuple, list)) else (out,))
            if isinstance(o, nncheck.Tensor)]
    rng = np.random.default_rng(1)
    loss = None
    for o in outs:
        if o.requires_grad:
            cot = rng.standard_normal(tuple(o.shape)).astype(str(o.dtype).split(".")[-1])
            term = (o * nncheck.from_numpy(cot).to(device)).sum()
            loss = term if loss is None else loss + term
    if loss is not None:
        loss.backward()
    values = [o.detach().cpu().numpy() for o in outs]
    values += [None if t.grad is None else t.grad.cpu().numpy() for t in inputs]
    values += [None if p.grad is None else p.grad.cpu().numpy() for p in module.parameters()]
    return values


class LayerResult(NamedTuple):
    worst: float  # the largest error in units of the tolerance
    host_fallbacks: dict  # generic ops the device run computed on the host: {name: count}


def layer_case(name, dtype):
    """Layer ``name`` (its registry example) forward and backward on cuda vs the CPU path:
    the largest error in units of the tolerance (float64 1e-12, float32 1e-5 of the scale)
    and the generic operations that ran on the host instead of device kernels.
    Raises LayerSkipped where the layer's family has no launchers (or lacks a kernel)."""
    import copy
    import importlib.util

    from nncheck import registry
    from nncheck.cli.build import Target, construct, grad_input_indices, sample_inputs
    from nncheck.cli.parsing import parse_layer_args
    from nncheck.cuda import launchers

    info = registry.get(name)
    args, kwargs = parse_layer_args(info.example.split() if info.example else [])
    module = construct(info.cls, args, kwargs)
    module = module.double() if np.dtype(dtype) == np.float64 else module.float()
    target = Target(module=module, info=info)
    arrays = sample_inputs(target, info.inputs, np.dtype(dtype), seed=0)
    wrt = grad_input_indices(target, arrays)
    device_module = copy.deepcopy(module).cuda()
    want = _run_layer(module, arrays, wrt, "cpu")
    fallbacks_before = dict(launchers.fallback_names)
    try:
        got = _run_layer(device_module, arrays, wrt, "cuda")
    except NotImplementedError as exc:  # a kernel the family's launchers lack
        raise LayerSkipped(str(exc)) from None
    except Exception:
        if importlib.util.find_spec(f"nncheck.cuda.launchers.{info.family}") is None:
            raise LayerSkipped(f"family {info.family!r} has no CUDA launchers yet") from None
        raise
    fallbacks = {k: n - fallbacks_before.get(k, 0) for k, n in launchers.fallback_names.items()
                 if n != fallbacks_before.get(k, 0)}
    if not all(p.device.type == "cuda" for p in device_module.parameters()):
        raise AssertionError(f"{name}: parameters left the device")
    tol, worst = layer_tolerance(dtype), 0.0
    for g, w in zip(got, want):
        if (g is None) != (w is None) or (w is not None and g.shape != w.shape):
            raise AssertionError(f"{name}: outputs/gradients differ in presence or shape")
        if w is not None and w.size:
            scale = max(1.0, float(np.abs(w).max()))
            worst = max(worst, float(np.abs(g.astype(np.float64) - w).max()) / (tol * scale))
    return LayerResult(worst, fallbacks)


def run_layers(dtypes=(np.float64, np.float32)):
    """Every registered layer on the device; prints one row each, returns the failures."""
    from nncheck import registry

    failures, counted, skipped = [], 0, {}
    for name in sorted(registry.layers()):
        for dtype in dtypes:
            label = f"{np.dtype(dtype).name} {name}"
            try:
                worst, fallbacks = layer_case(name, dtype)
            except LayerSkipped as exc:
                skipped[name] = str(exc)
                continue
            except Exception as exc:  # a failure is a row of the report, not a crash
                failures.append(f"{label}: {type(exc).__name__}: {exc}")
                continue
            counted += 1
            ok = worst <= 1
            host = f"; on the host: {fallbacks}" if fallbacks else ""
            print(f"  {label:40s} {'ok' if ok else 'MISMATCH'} ({worst:.2f} x tolerance{host})")
            if not ok:
                failures.append(f"{label}: error {worst:.2f} x tolerance")
    print(f"layers on the device: {counted // len(dtypes)} of {len(registry.layers())} "
          f"run by device kernels; {len(skipped)} skipped")
    for name, reason in sorted(skipped.items()):
        print(f"  skipped {name}: {reason}")
    return failures


def build_extensions():
    """Build the Cython kernels in place (the GPU machine starts from a bare checkout)."""
    import subprocess

    root = Path(__file__).resolve().parents[1]
    subprocess.run([sys.executable, "setup.py", "build_ext", "--inplace", "-j", "16"], cwd=root,
                   check=True, stdout=subprocess.DEVNULL)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="*", choices=sorted(CASES), help="families to check")
    parser.add_argument("--no-bench", action="store_true", help="skip the timings")
    parser.add_argument("--build", action="store_true", help="build the Cython kernels first")
    args = parser.parse_args(argv)
    if not cuda.is_available():
        print(f"gpu_check: {cuda.unavailable_reason()}", file=sys.stderr)
        return 2
    if args.build:
        build_extensions()
    dev = cuda.get_device(0)
    emulated = _driver.emulated()  # NNCHECK_CUDA_EMULATE=1: the correctness part on the host
    compiler = "g++ (host emulation)" if emulated else f"NVRTC {cuda.nvrtc_version()}"
    print(f"device: {dev.name} {dev.arch}, {compiler}, kernel cache {cuda.cache_dir()}")
    compile_family = cuda.emulator.compile_family if emulated else cuda.compile_family
    t0 = time.perf_counter()
    with ThreadPoolExecutor(8) as pool:  # compile up front, in parallel (cached on disk after)
        list(pool.map(lambda f: compile_family(f, dev.arch), args.only or CASES))
    print(f"compiled in {time.perf_counter() - t0:.1f} s")
    failures = run_cases(CudaBackend(), only=args.only)
    if not args.only:
        print("\nevery registered layer, cuda vs the CPU path:")
        failures += run_layers()
    print(f"\n{'FAILED' if failures else 'passed'}: {len(failures)} mismatches")
    for line in failures:
        print("  " + line)
    if not args.no_bench and not emulated:
        bench()
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
