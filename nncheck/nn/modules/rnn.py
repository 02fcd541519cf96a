"""Recurrent layers: RNN, LSTM, GRU and their single-step cells.

One autograd node (``_Recurrent``) covers a whole call, every layer and
direction: the sequence loops live in ``nncheck/_kernels/rnn.pyx`` (one kernel
call per layer and direction), so backpropagation through time costs no Python
per time step.  Inside the node everything is in the kernels' packed row layout
(see rnn.pyx); ``_Plan`` maps the caller's layout (padded, batch_first,
unbatched, packed, cell) to it and back.  Parameters, their order, init and repr
are torch's, so state_dicts transfer unchanged.
"""

import math
import numbers
import warnings

from ... import factories
from ... import random as _random
from ..._lazy import family_names, np
from ...backend import array_namespace, asarray, ascontiguousarray, kernels
from ...ops import Op
from ...registry import register
from ...shapes import ShapeError, note
from ...tensor import Tensor
from .. import init
from ..functional._validation import kernel_array
from ..parameter import Parameter
from ..utils.rnn import PackedSequence, _checked_batch_sizes
from .module import Module

__all__ = family_names(__name__)


class _Plan:
    """One call's sizes and the mapping between the caller's tensors and packed rows.

    ``form`` is "padded" (T, B, F), "batch_first" (B, T, F), "unbatched" (T, F),
    "packed" (N, F) rows already, "cell" (B, F) or "cell_unbatched" (F,).  Every
    mapping is a permutation or a reshape, so the gradient of ``rows`` is
    ``unrows`` and that of ``state_in`` is ``state_out``.
    """

    def __init__(self, form, batch_sizes, *, mode, hidden, bias, num_layers=1, directions=1,
                 proj=0, dropout=0.0, sorted_indices=None, unsorted_indices=None):
        self.form, self.mode, self.hidden, self.bias = form, mode, hidden, bias
        self.num_layers, self.directions = num_layers, directions
        self.out, self.proj = proj or hidden, proj > 0
        self.dropout = dropout
        self.batch_sizes = np.ascontiguousarray(batch_sizes, np.int64)
        ends = self.batch_sizes.cumsum()
        self.offsets = ends - self.batch_sizes
        self.rows_total = int(ends[-1])
        self.batch = int(self.batch_sizes[0])
        self.steps = len(self.batch_sizes)
        self.sorted, self.unsorted = sorted_indices, unsorted_indices

    @property
    def is_cell(self):
        return self.form.startswith("cell")

    def rows(self, a):
        if self.form == "batch_first":
            a = a.swapaxes(0, 1)
        return array_namespace(a).ascontiguousarray(a).reshape(-1, a.shape[-1])

    def unrows(self, a):
        f = a.shape[-1]
        shape = {"padded": (self.steps, self.batch, f), "batch_first": (self.steps, self.batch, f),
                 "cell": (self.batch, f), "cell_unbatched": (f,)}.get(self.form, a.shape)
        a = a.reshape(shape)
        if self.form == "batch_first":
            return array_namespace(a).ascontiguousarray(a.swapaxes(0, 1))
        return a

    def state_in(self, h, dtype):
        """The caller's h0 as a fresh C-contiguous (layers*directions, B, F) array."""
        if self.form == "unbatched":
            h = h[:, None]
        elif self.form == "cell":
            h = h[None]
        elif self.form == "cell_unbatched":
            h = h[None, None]
        elif self.sorted is not None:
            h = h[:, self.sorted]
        return array_namespace(h).ascontiguousarray(h, dtype).copy()

    def state_out(self, h):
        if self.form == "unbatched":
            return h[:, 0]
        if self.form == "cell":
            return h[0]
        if self.form == "cell_unbatched":
            return h[0, 0]
        return h[:, self.unsorted] if self.unsorted is not None else h

    def split_weights(self, weights):
        """Per layer and direction: (w_ih, w_hh, b_ih, b_hh, w_hr), absent ones None."""
        per = 2 + 2 * self.bias + self.proj
        out = []
        for k in range(self.num_layers * self.directions):
            w = list(weights[k * per:(k + 1) * per])
            b = w[2:4] if self.bias else [None, None]
            out.append((w[0], w[1], b[0], b[1], w[-1] if self.proj else None))
        return out


class _Recurrent(Op):
    """All layers and directions of one RNN/LSTM/GRU call (or one cell step)."""

    @staticmethod
    def forward(ctx, plan, x, h0, c0, *weights):
        _k, xp = kernels("rnn", x, h0, c0)
        kx = kernel_array(x, plan.mode)
        dt = kx.dtype
        lstm = plan.mode == "LSTM"
        n_states = plan.num_layers * plan.directions
        h = (xp.zeros((n_states, plan.batch, plan.out), dt) if h0 is None
             else plan.state_in(h0, dt))
        c = None
        if lstm:
            c = (xp.zeros((n_states, plan.batch, plan.hidden), dt) if c0 is None
                 else plan.state_in(c0, dt))
        inp = plan.rows(kx)
        ctx.plan, ctx.dtype, ctx.lstm = plan, dt, lstm
        ctx.layer_inputs, ctx.saved, ctx.masks = [], [], []
        ctx.weights = [tuple(None if w is None else xp.ascontiguousarray(w, dt) for w in ws)
                       for ws in plan.split_weights(weights)]
        ctx.save_for_backward(x, h0, c0, *weights)
        for layer in range(plan.num_layers):
            y = xp.empty((plan.rows_total, plan.directions * plan.out), dt)
            for d in range(plan.directions):
                k = layer * plan.directions + d
                ctx.saved.append(_run_forward(plan, ctx.weights[k], inp, h[k],
                                              c[k] if lstm else xp.empty((0, 0), dt), y, d, dt))
            ctx.layer_inputs.append(inp)
            inp = y
            if plan.dropout and layer < plan.num_layers - 1:
                mask = _dropout_mask(y.shape, plan.dropout, dt)
                inp = xp.empty_like(y)
                _k.scale_rows(y, mask, inp)
                ctx.masks.append(mask)
        states = (plan.state_out(h), plan.state_out(c)) if lstm else (plan.state_out(h),)
        outs = states if plan.is_cell else (plan.unrows(y),) + states
        return tuple(o.astype(x.dtype, copy=False) for o in outs)

    @staticmethod
    def backward(ctx, *grads):
        plan, dt = ctx.plan, ctx.dtype
        x, h0, c0, *weights = ctx.saved_tensors
        _k, xp = kernels("rnn", x, h0, c0)
        if not plan.is_cell:
            d_out, grads = grads[0], grads[1:]
            dy = plan.rows(asarray(d_out, dt))
        else:
            dy = xp.zeros((plan.rows_total, plan.out), dt)
        dh = plan.state_in(grads[0], dt)
        dc = plan.state_in(grads[1], dt) if ctx.lstm else xp.empty((1, 0, 0), dt)
        need = ctx.needs_input_grad
        per = len(weights) // len(ctx.weights)
        weight_grads = [None] * len(weights)
        dx = None
        for layer in reversed(range(plan.num_layers)):
            inp = ctx.layer_inputs[layer]
            want_dx = layer > 0 or need[1]
            dx = xp.empty_like(inp) if want_dx else None
            for d in range(plan.directions):
                k = layer * plan.directions + d
                wants = need[4 + k * per:4 + (k + 1) * per]
                grads_k = _run_backward(plan, ctx.weights[k], ctx.saved[k], inp, dy, dh[k],
                                        dc[k] if ctx.lstm else dc[0], d, dt, wants, dx)
                for j, g in enumerate(grads_k):
                    if g is not None:
                        src = weights[k * per + j]
                        weight_grads[k * per + j] = g.astype(src.dtype, copy=False)
            if layer > 0:
                if ctx.masks:
                    _k.scale_rows(dx, ctx.masks[layer - 1], dx)
                dy = dx
        gx = plan.unrows(dx).astype(x.dtype, copy=False) if need[1] else None
        gh0 = plan.state_out(dh).astype(h0.dtype, copy=False) if need[2] else None
        gc0 = plan.state_out(dc).astype(c0.dtype, copy=False) if need[3] else None
        return (None, gx, gh0, gc0, *weight_grads)

    @staticmethod
    def backward_stacked(ctx, *grads):
        """K cotangents per output (leading axis), one ``backward`` each: gradcheck's rows
        in one node call (the recurrence itself does not batch over cotangents here)."""
        stack = grads[0].shape[0]
        rows = [_Recurrent.backward(ctx, *(g[k] for g in grads)) for k in range(stack)]
        return tuple(None if parts[0] is None else np.stack(parts) for parts in zip(*rows))

    @staticmethod
    def forward_stacked(ctx, stacked, plan, x, h0, c0, *weights):
        """K versions of some of x, h0, c0 and the weights on a leading axis (gradcheck's
        stacked replays): the kernel's recurrence, each step one batched GEMM over the K
        versions.  Without dropout (a random forward is never replayed)."""
        if plan.dropout and plan.num_layers > 1:
            raise NotImplementedError("stacked recurrence with dropout")
        args, flags = (x, h0, c0, *weights), stacked[1:]
        k = next(a.shape[0] for a, f in zip(args, flags) if f)
        dt = np.float64 if x.dtype == np.float64 else np.float32
        lead = [a if f or a is None else a[None] for a, f in zip(args, flags)]
        x, h0, c0, weights = lead[0], lead[1], lead[2], lead[3:]
        inp = (x.swapaxes(1, 2) if plan.form == "batch_first" else x)
        inp = inp.reshape(inp.shape[0], -1, inp.shape[-1]).astype(dt)
        lstm = plan.mode == "LSTM"
        h_all = _stacked_state_in(plan, h0, plan.out, dt)
        c_all = _stacked_state_in(plan, c0, plan.hidden, dt) if lstm else None
        h_out, c_out = [], []
        for layer in range(plan.num_layers):
            y = np.empty((k, plan.rows_total, plan.directions * plan.out), dt)
            for d in range(plan.directions):
                n = layer * plan.directions + d
                h = np.array(np.broadcast_to(h_all[:, n], (k,) + h_all.shape[2:]))
                c = np.array(np.broadcast_to(c_all[:, n], (k,) + c_all.shape[2:])) if lstm \
                    else None
                _stacked_recurrence(plan, plan.split_weights(weights)[n], inp, h, c,
                                    y[..., d * plan.out:(d + 1) * plan.out], d == 1)
                h_out.append(h)
                c_out.append(c)
            inp = y
        states = [np.stack(h_out, axis=1)] + ([np.stack(c_out, axis=1)] if lstm else [])
        states = [_stacked_state_out(plan, a) for a in states]
        if plan.is_cell:
            outs = states
        else:
            f = y.shape[-1]
            shape = {"padded": (plan.steps, plan.batch, f),
                     "batch_first": (plan.steps, plan.batch, f)}.get(plan.form, y.shape[1:])
            y = y.reshape((k,) + shape)
            outs = [y.swapaxes(1, 2) if plan.form == "batch_first" else y] + states
        return tuple(np.ascontiguousarray(o, args[0].dtype) for o in outs)


def _stacked_state_in(plan, h, width, dt):
    """``plan.state_in`` for (K or 1) states on a leading axis: (K|1, layers*dirs, B, F)."""
    if h is None:
        return np.zeros((1, plan.num_layers * plan.directions, plan.batch, width), dt)
    if plan.form == "unbatched":
        h = h[:, :, None]
    elif plan.form == "cell":
        h = h[:, None]
    elif plan.form == "cell_unbatched":
        h = h[:, None, None]
    elif plan.sorted is not None:
        h = h[:, :, plan.sorted]
    return h.astype(dt)


def _stacked_state_out(plan, h):
    if plan.form == "unbatched":
        return h[:, :, 0]
    if plan.form == "cell":
        return h[:, 0]
    if plan.form == "cell_unbatched":
        return h[:, 0, 0]
    return h[:, :, plan.unsorted] if plan.unsorted is not None else h


def _sigmoid(v):
    return 0.5 + 0.5 * np.tanh(0.5 * v)  # no overflow for large |v|


def _stacked_recurrence(plan, weights, inp, h, c, y, reverse):
    """``rnn_forward`` (rnn.pyx) for K versions: inp (K|1, N, I) packed rows, weights each
    (K|1, ...) or None; h (K, B, Hout) and c (K, B, H) evolve in place; y (K, N, Hout)
    receives the outputs."""
    w_ih, w_hh, b_ih, b_hh, w_hr = weights
    H = plan.hidden
    if b_ih is None:
        bias_x, b_hn = 0.0, 0.0
    elif plan.mode == "GRU":
        bias_x = b_ih + np.concatenate([b_hh[:, :2 * H], np.zeros_like(b_hh[:, 2 * H:])], 1)
        b_hn = b_hh[:, None, 2 * H:]
    else:
        bias_x, b_hn = b_ih + b_hh, 0.0
    gx = np.matmul(inp, w_ih.swapaxes(1, 2)) + (bias_x[:, None] if b_ih is not None else 0.0)
    for s in range(plan.steps):
        t = plan.steps - 1 - s if reverse else s
        o, bs = int(plan.offsets[t]), int(plan.batch_sizes[t])
        prev = h[:, :bs]
        gh = np.matmul(prev, w_hh.swapaxes(1, 2))
        g = gx[:, o:o + bs]
        if plan.mode == "LSTM":
            i, f = _sigmoid(g[..., :H] + gh[..., :H]), _sigmoid(g[..., H:2 * H] + gh[..., H:2 * H])
            cand = np.tanh(g[..., 2 * H:3 * H] + gh[..., 2 * H:3 * H])
            c[:, :bs] = f * c[:, :bs] + i * cand
            out = _sigmoid(g[..., 3 * H:] + gh[..., 3 * H:]) * np.tanh(c[:, :bs])
            if w_hr is not None:
                out = np.matmul(out, w_hr.swapaxes(1, 2))
        elif plan.mode == "GRU":
            r, z = _sigmoid(g[..., :H] + gh[..., :H]), _sigmoid(g[..., H:2 * H] + gh[..., H:2 * H])
            cand = np.tanh(g[..., 2 * H:] + r * (gh[..., 2 * H:] + b_hn))
            out = (1 - z) * cand + z * prev
        else:
            out = g + gh
            out = np.maximum(out, 0) if plan.mode == "RNN_RELU" else np.tanh(out)
        h[:, :bs] = out
        y[:, o:o + bs] = out


def _dropout_mask(shape, p, dt):
    """Inverted dropout: 0 with probability p, else 1 / (1 - p) (all 0 when p = 1)."""
    if p >= 1:
        return np.zeros(shape, dt)
    keep = _random.generator().random(shape) >= p
    return (keep / (1 - p)).astype(dt)


def _biases(plan, b_ih, b_hh, gates, dt):
    """(bias added to x @ W_ih^T, GRU's b_hn kept apart) from b_ih and b_hh."""
    if b_ih is None:
        return np.zeros(gates, dt), np.zeros(plan.hidden, dt)
    if plan.mode == "GRU":
        h = plan.hidden
        bias_x = b_ih.copy()
        bias_x[:2 * h] += b_hh[:2 * h]
        return bias_x, ascontiguousarray(b_hh[2 * h:])
    return b_ih + b_hh, np.zeros(plan.hidden, dt)


def _run_forward(plan, weights, inp, h, c, y, d, dt):
    """One layer and direction; returns the arrays its backward needs."""
    _k, xp = kernels("rnn", inp)
    w_ih, w_hh, b_ih, b_hh, w_hr = weights
    n, g = plan.rows_total, w_ih.shape[0]
    lstm, gru = plan.mode == "LSTM", plan.mode == "GRU"
    bias_x, b_hn = _biases(plan, b_ih, b_hh, g, dt)
    empty = xp.empty((0, 0), dt)
    gates = xp.empty((n, g), dt)
    cell = xp.empty((n, plan.hidden), dt) if lstm or gru else empty
    prev = xp.empty((n, plan.out), dt)
    cprev = xp.empty((n, plan.hidden), dt) if lstm else empty
    hraw = xp.empty((n, plan.hidden), dt) if plan.proj else empty
    if n:
        _k.rnn_forward(_k.MODES[plan.mode], inp, w_ih, w_hh, bias_x, b_hn,
                       empty if w_hr is None else w_hr, plan.batch_sizes, plan.offsets, d == 1,
                       h, c, y, d * plan.out, gates, cell, prev, cprev, hraw,
                       xp.empty((plan.batch, g), dt))
    return gates, cell, prev, cprev, hraw


def _run_backward(plan, weights, saved, inp, dy, dh, dc, d, dt, wants, dx):
    """BPTT for one layer and direction: dh/dc become dh0/dc0, dx gets (+=) the input
    gradient, and the requested weight gradients are returned in parameter order."""
    _k, xp = kernels("rnn", inp)
    w_ih, w_hh, b_ih, b_hh, w_hr = weights
    gates, cell, prev, cprev, hraw = saved
    n, g = plan.rows_total, w_ih.shape[0]
    empty = xp.empty((0, 0), dt)
    dgx = xp.empty((n, g), dt)
    dgh = xp.empty((n, g), dt) if plan.mode == "GRU" else dgx
    dhout = xp.empty((n, plan.out), dt) if plan.proj else empty
    if n:
        _k.rnn_backward(_k.MODES[plan.mode], w_hh, empty if w_hr is None else w_hr,
                        plan.batch_sizes, plan.offsets, d == 1, gates, cell, prev, cprev,
                        dy, d * plan.out, dh, dc, dgx, dgh, dhout,
                        xp.empty((plan.batch, plan.hidden), dt) if plan.proj else empty)
    names = ["w_ih", "w_hh"] + (["b_ih", "b_hh"] if plan.bias else []) + (
        ["w_hr"] if plan.proj else [])
    shapes = {"w_ih": w_ih.shape, "w_hh": w_hh.shape, "b_ih": (g,), "b_hh": (g,),
              "w_hr": (0, 0) if w_hr is None else w_hr.shape}
    wanted = dict(zip(names, wants))
    # a gradient nobody asked for gets a 0-row placeholder, which the kernel skips
    out = {name: xp.zeros(shape if wanted.get(name) else (0,) * len(shape), dt)
           for name, shape in shapes.items()}
    if n:
        _k.rnn_weight_grads(inp, prev, hraw, dgx, dgh, dhout, out["w_ih"], out["w_hh"],
                            out["b_ih"], out["b_hh"], out["w_hr"])
        if dx is not None:
            _k.rnn_input_grad(dgx, w_ih, dx, d > 0)
    elif dx is not None:
        dx[...] = 0
    return [out[name] if wanted[name] else None for name in names]


def _check_size(name, value, *, positive=True):
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} should be of type int, got: {type(value).__name__}")
    if positive and value <= 0:
        raise ValueError(f"{name} must be greater than zero")


def _check_dtype(layer, tensor, weight, what="input"):
    if not tensor.dtype.is_floating_point:
        raise TypeError(f"{layer}: {what} must be a floating point tensor, got {tensor.dtype}")
    if tensor.dtype != weight.dtype:
        raise ValueError(
            f"{layer}: RNN {what} dtype ({tensor.dtype}) does not match weight dtype "
            f"({weight.dtype}). Convert {what}: {what}.to({weight.dtype}), or convert model: "
            f"model.to({tensor.dtype})"
        )


def _gate_size(mode, hidden):
    return {"LSTM": 4, "GRU": 3}.get(mode, 1) * hidden


def _checked_weights(layer, module, shapes):
    """The parameters named in ``shapes``, in order.  Parameters assigned after construction
    must keep their shapes (the kernels rely on them) and be floating point."""
    weights = []
    for name, shape in shapes:
        p = getattr(module, name)
        if not isinstance(p, Tensor) or p._data.shape != shape or p._data.dtype.kind != "f":
            got = (f"{list(p.shape)} {p.dtype}" if isinstance(p, Tensor)
                   else type(p).__name__)
            raise RuntimeError(f"{layer}: parameter {name} must be a floating point tensor of "
                               f"shape {list(shape)}, got {got}")
        weights.append(p)
    return weights


def _shape_text(shape):
    return "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"


class RNNBase(Module):
    """Shared by RNN, LSTM and GRU: parameters per layer and direction, checks, the call."""

    def __init__(self, mode, input_size, hidden_size, num_layers=1, bias=True,
                 batch_first=False, dropout=0.0, bidirectional=False, proj_size=0,
                 device=None, dtype=None):
        super().__init__()
        if (not isinstance(dropout, numbers.Number) or isinstance(dropout, bool)
                or not 0 <= dropout <= 1):
            raise ValueError(
                f"{type(self).__name__}: dropout should be a number in range [0, 1] representing "
                f"the probability of an element being zeroed, got {dropout!r}"
            )
        if dropout > 0 and num_layers == 1:
            warnings.warn(
                "dropout option adds dropout after all but last recurrent layer, so non-zero "
                "dropout expects num_layers greater than 1, but got "
                f"dropout={dropout} and num_layers={num_layers}", stacklevel=3)
        for name, flag in (("bias", bias), ("batch_first", batch_first)):
            if not isinstance(flag, bool):
                raise TypeError(f"{name} should be of type bool, got: {type(flag).__name__}")
        _check_size("input_size", input_size)
        _check_size("hidden_size", hidden_size)
        _check_size("num_layers", num_layers)
        _check_size("proj_size", proj_size, positive=False)
        if proj_size < 0:
            raise ValueError(
                "proj_size should be a positive integer or zero to disable projections")
        if proj_size >= hidden_size:
            raise ValueError(f"{type(self).__name__}: proj_size has to be smaller than "
                             f"hidden_size, got proj_size={proj_size} and "
                             f"hidden_size={hidden_size}")
        self.mode, self.input_size, self.hidden_size = mode, input_size, hidden_size
        self.num_layers, self.bias, self.batch_first = num_layers, bias, batch_first
        self.dropout, self.bidirectional, self.proj_size = float(dropout), bidirectional, proj_size
        self._flat_weights_names, self._all_weights = [], []
        for group in self._weight_shapes():
            for name, shape in group:
                setattr(self, name, Parameter(factories.empty(*shape, dtype=dtype)))
            self._all_weights.append([name for name, _ in group])
            self._flat_weights_names.extend(self._all_weights[-1])
        self.reset_parameters()

    def reset_parameters(self):
        stdv = 1.0 / math.sqrt(self.hidden_size)
        for weight in self.parameters():
            init.uniform_(weight, -stdv, stdv)

    def _weight_shapes(self):
        """[(name, shape), ...] per layer and direction, in torch's registration order."""
        gate_size = _gate_size(self.mode, self.hidden_size)
        directions = 2 if self.bidirectional else 1
        out_size = self.proj_size or self.hidden_size
        groups = []
        for layer in range(self.num_layers):
            for direction in range(directions):
                layer_input = self.input_size if layer == 0 else out_size * directions
                shapes = [("weight_ih", (gate_size, layer_input)),
                          ("weight_hh", (gate_size, out_size))]
                if self.bias:
                    shapes += [("bias_ih", (gate_size,)), ("bias_hh", (gate_size,))]
                if self.proj_size:
                    shapes += [("weight_hr", (self.proj_size, self.hidden_size))]
                suffix = "_reverse" if direction == 1 else ""
                groups.append([(f"{base}_l{layer}{suffix}", shape) for base, shape in shapes])
        return groups

    def flatten_parameters(self):
        """Kept for torch compatibility: the weights are always used where they are."""

    @property
    def _flat_weights(self):
        return [getattr(self, name) for name in self._flat_weights_names]

    @property
    def all_weights(self):
        return [[getattr(self, name) for name in names] for names in self._all_weights]

    # ------------------------------------------------------------------ forward
    def _expected_states(self, batch):
        layers = self.num_layers * (2 if self.bidirectional else 1)
        h = (layers, batch, self.proj_size or self.hidden_size)
        return (h, (layers, batch, self.hidden_size)) if self.mode == "LSTM" else (h,)

    def forward(self, input, hx=None):
        name = type(self).__name__
        weights = _checked_weights(name, self,
                                   [item for group in self._weight_shapes() for item in group])
        weight = weights[0]
        states = self._split_hx(hx)
        if isinstance(input, PackedSequence):
            data = input.data
            _check_dtype(name, data, weight)
            sizes = self._check_packed(data, input)
            plan = self._plan("packed", sizes, _indices(input.sorted_indices),
                              _indices(input.unsorted_indices))
            batched = True
        else:
            if not isinstance(input, Tensor):
                raise TypeError(f"{name}: input must be a Tensor or a PackedSequence, got "
                                f"{type(input).__name__}")
            if input.ndim not in (2, 3):
                raise ValueError(f"{name}: Expected input to be 2D or 3D, got {input.ndim}D "
                                 "tensor instead")
            _check_dtype(name, input, weight)
            self._check_features(input)
            batched = input.ndim == 3
            steps = input.shape[int(self.batch_first)] if batched else input.shape[0]
            batch = input.shape[int(not self.batch_first)] if batched else 1
            if steps == 0:
                raise RuntimeError(f"{name}: Expected sequence length to be larger than 0 in "
                                   f"RNN, got input of shape {list(input.shape)}")
            form = ("batch_first" if self.batch_first else "padded") if batched else "unbatched"
            plan = self._plan(form, [batch] * steps)
            data = input
        self._check_states(states, plan.batch, batched, weight)
        outs = _Recurrent.apply(plan, data, *states, *weights)
        output, h_n = outs[0], outs[1:] if self.mode == "LSTM" else outs[1]
        if isinstance(input, PackedSequence):
            output = PackedSequence(output, input.batch_sizes, input.sorted_indices,
                                    input.unsorted_indices)
        return output, h_n

    def _plan(self, form, batch_sizes, sorted_indices=None, unsorted_indices=None):
        return _Plan(form, batch_sizes, mode=self.mode, hidden=self.hidden_size, bias=self.bias,
                     num_layers=self.num_layers, directions=2 if self.bidirectional else 1,
                     proj=self.proj_size, dropout=self.dropout if self.training else 0.0,
                     sorted_indices=sorted_indices, unsorted_indices=unsorted_indices)

    def _split_hx(self, hx):
        """(h0, c0) with None for absent ones (c0 is always None but for LSTM)."""
        name = type(self).__name__
        if self.mode != "LSTM":
            if hx is not None and not isinstance(hx, Tensor):
                raise TypeError(f"{name}: hx must be a Tensor, got {type(hx).__name__}")
            return hx, None
        if hx is None:
            return None, None
        if not (isinstance(hx, (tuple, list)) and len(hx) == 2
                and all(isinstance(t, Tensor) for t in hx)):
            raise TypeError(f"{name}: hx must be a tuple (h_0, c_0) of two Tensors, got "
                            f"{type(hx).__name__}")
        return tuple(hx)

    def _check_features(self, data):
        if data.shape[-1] != self.input_size:
            raise RuntimeError(
                f"{type(self).__name__}: input.size(-1) must be equal to input_size. Expected "
                f"{self.input_size}, got {data.shape[-1]}"
            )

    def _check_packed(self, data, sequence):
        if data.ndim != 2:
            raise RuntimeError(f"{type(self).__name__}: packed input data must have 2 "
                               f"dimensions, got {data.ndim}")
        self._check_features(data)
        return _checked_batch_sizes(sequence, type(self).__name__)

    def _check_states(self, states, batch, batched, weight):
        name = type(self).__name__
        rank = 3 if batched else 2
        lstm = self.mode == "LSTM"
        expected = self._expected_states(batch)
        for i, (state, shape) in enumerate(zip(states, expected)):
            if state is None:
                continue
            what = f"hidden[{i}]" if lstm else "hidden"
            if state.ndim != rank:
                kind = "batched 3-D" if batched else "unbatched 2-D"
                raise RuntimeError(f"{name}: For {kind} input, {'hx and cx' if lstm else 'hx'} "
                                   f"should also be {rank}-D but got {state.ndim}-D {what}")
            want = shape if batched else (shape[0], shape[2])
            if tuple(state.shape) != want:
                raise RuntimeError(f"{name}: Expected {what} size {_shape_text(want)}, got "
                                   f"{list(state.shape)}")
            _check_dtype(name, state, weight, "hx")

    # ------------------------------------------------------------------ shapes and repr
    def infer_shape(self, *shapes, explain=None):
        name = type(self).__name__
        if not shapes:
            raise ShapeError(name, "needs the input shape")
        shape = tuple(shapes[0])
        if len(shape) not in (2, 3):
            raise ShapeError(name, f"expected input to be 2-D (L, H_in) or 3-D "
                                   f"{'(N, L, H_in)' if self.batch_first else '(L, N, H_in)'}, "
                                   f"got {len(shape)}-D shape {list(shape)}")
        if shape[-1] != self.input_size:
            raise ShapeError(name, f"the input's last dimension is {shape[-1]} but "
                                   f"input_size={self.input_size}",
                             f"use {name}({shape[-1]}, {self.hidden_size}) or feed "
                             f"[..., {self.input_size}]")
        batched = len(shape) == 3
        steps = shape[int(self.batch_first)] if batched else shape[0]
        batch = shape[int(not self.batch_first)] if batched else 1
        if steps == 0:
            raise ShapeError(name, "the sequence length is 0", "feed at least one time step")
        directions = 2 if self.bidirectional else 1
        out = self.proj_size or self.hidden_size
        expected = self._expected_states(batch)
        labels = ["h_0", "c_0"]
        if len(shapes) > 1 + len(expected):
            raise ShapeError(name, f"takes the input and at most {len(expected)} state "
                                   f"shape(s), got {len(shapes)} shapes")
        for label, given, want in zip(labels, shapes[1:], expected):
            want = want if batched else (want[0], want[2])
            if tuple(given) != want:
                raise ShapeError(name, f"{label} has shape {list(given)}, expected "
                                       f"{list(want)} (num_layers*num_directions, "
                                       f"{'batch, ' if batched else ''}size)")
        features = directions * out
        lead = shape[:-1]
        size_name = "proj_size" if self.proj_size else "hidden_size"
        note(explain, f"output: last dim = num_directions * {size_name} = {directions} * "
                      f"{out} = {features}; leading dims {list(lead)} unchanged")
        results = [lead + (features,)]
        for label, size, want in zip(("h_n", "c_n"), (size_name, "hidden_size"), expected):
            want = want if batched else (want[0], want[2])
            note(explain, f"{label}: (num_layers * num_directions, "
                          f"{'batch, ' if batched else ''}{size}) = ({self.num_layers} * "
                          f"{directions}, {f'{batch}, ' if batched else ''}{want[-1]}) = "
                          f"{list(want)}")
            results.append(want)
        return tuple(results)

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size != 0:
            s += f", proj_size={self.proj_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if self.batch_first is not False:
            s += f", batch_first={self.batch_first}"
        if self.dropout != 0:
            s += f", dropout={self.dropout}"
        if self.bidirectional is not False:
            s += f", bidirectional={self.bidirectional}"
        return s


def _indices(t):
    return None if t is None else np.asarray(t._data if isinstance(t, Tensor) else t, np.int64)


@register("rnn", "3 4", inputs=[(5, 2, 3)])
class RNN(RNNBase):
    """Elman RNN: h_t = act(W_ih x_t + b_ih + W_hh h_(t-1) + b_hh), act tanh or relu."""

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True,
                 batch_first=False, dropout=0.0, bidirectional=False, device=None, dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(
                f"Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or 'relu'.")
        self.nonlinearity = nonlinearity
        super().__init__("RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU", input_size,
                         hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         device=device, dtype=dtype)


@register("rnn", "3 4", inputs=[(5, 2, 3)], input_groups=("input", ("h_0", "c_0")))
class LSTM(RNNBase):
    """LSTM with gates i, f, g, o; with proj_size, h_t = W_hr (o * tanh(c_t))."""

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, proj_size=0, device=None, dtype=None):
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, proj_size, device=device, dtype=dtype)


@register("rnn", "3 4", inputs=[(5, 2, 3)])
class GRU(RNNBase):
    """GRU with gates r, z, n: n = tanh(W_in x + b_in + r * (W_hn h + b_hn))."""

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, device=None, dtype=None):
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, device=device, dtype=dtype)


class RNNCellBase(Module):
    """One time step: the sequence kernels run with a single step and a single layer."""

    def __init__(self, input_size, hidden_size, bias, num_chunks, device=None, dtype=None):
        super().__init__()
        _check_size("input_size", input_size)
        _check_size("hidden_size", hidden_size)
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        self.weight_ih = Parameter(factories.empty(num_chunks * hidden_size, input_size,
                                                   dtype=dtype))
        self.weight_hh = Parameter(factories.empty(num_chunks * hidden_size, hidden_size,
                                                   dtype=dtype))
        if bias:
            self.bias_ih = Parameter(factories.empty(num_chunks * hidden_size, dtype=dtype))
            self.bias_hh = Parameter(factories.empty(num_chunks * hidden_size, dtype=dtype))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self):
        stdv = 1.0 / math.sqrt(self.hidden_size)
        for weight in self.parameters():
            init.uniform_(weight, -stdv, stdv)

    def _states(self, hx):
        return hx, None

    def forward(self, input, hx=None):
        name = type(self).__name__
        gates = _gate_size(self.mode, self.hidden_size)
        shapes = [("weight_ih", (gates, self.input_size)), ("weight_hh", (gates, self.hidden_size))]
        if self.bias:
            shapes += [("bias_ih", (gates,)), ("bias_hh", (gates,))]
        _checked_weights(name, self, shapes)
        if not isinstance(input, Tensor):
            raise TypeError(f"{name}: input must be a Tensor, got {type(input).__name__}")
        if input.ndim not in (1, 2):
            raise ValueError(f"{name}: Expected input to be 1D or 2D, got {input.ndim}D instead")
        if input.shape[-1] != self.input_size:
            raise RuntimeError(f"{name}: input has inconsistent input_size: got "
                               f"{input.shape[-1]} expected {self.input_size}")
        batched = input.ndim == 2
        batch = input.shape[0] if batched else 1
        states = self._states(hx)
        for i, state in enumerate(states):
            if state is None:
                continue
            if state.ndim != input.ndim:
                what = f"hx[{i}]" if self.mode == "LSTM" else "hidden"  # PyTorch's words
                raise ValueError(f"{name}: Expected {what} to be 1D or 2D, got {state.ndim}D "
                                 f"instead ({input.ndim}D like the input: batched inputs take "
                                 "batched states)")
            if batched and state.shape[0] != batch:
                raise RuntimeError(f"{name}: Input batch size {batch} doesn't match hidden{i} "
                                   f"batch size {state.shape[0]}")
            if state.shape[-1] != self.hidden_size:
                raise RuntimeError(f"{name}: hidden{i} has inconsistent hidden_size: got "
                                   f"{state.shape[-1]}, expected {self.hidden_size}")
        # dtypes after the shapes, in PyTorch's order
        _check_dtype(name, input, self.weight_ih)
        for state in states:
            if state is not None:
                _check_dtype(name, state, self.weight_ih, "hx")
        plan = _Plan("cell" if batched else "cell_unbatched", [batch], mode=self.mode,
                     hidden=self.hidden_size, bias=self.bias)
        weights = [getattr(self, n) for n, _ in shapes]
        outs = _Recurrent.apply(plan, input, *states, *weights)
        return outs if self.mode == "LSTM" else outs[0]

    def infer_shape(self, *shapes, explain=None):
        name = type(self).__name__
        n_states = 2 if self.mode == "LSTM" else 1
        if not shapes or len(shapes) > 1 + n_states:
            raise ShapeError(name, f"takes the input and at most {n_states} state shape(s), "
                                   f"got {len(shapes)} shapes")
        shape = tuple(shapes[0])
        if len(shape) not in (1, 2):
            raise ShapeError(name, f"expected input to be 1-D (H_in) or 2-D (N, H_in), got "
                                   f"{len(shape)}-D shape {list(shape)}")
        if shape[-1] != self.input_size:
            raise ShapeError(name, f"the input's last dimension is {shape[-1]} but "
                                   f"input_size={self.input_size}",
                             f"use {name}({shape[-1]}, {self.hidden_size})")
        want = shape[:-1] + (self.hidden_size,)
        for i, given in enumerate(shapes[1:]):
            if tuple(given) != want:
                raise ShapeError(name, f"hx[{i}] has shape {list(given)}, expected {list(want)}")
        labels = ("h'", "c'")[:n_states]
        for label in labels:
            note(explain, f"{label}: input's leading dims {list(shape[:-1])} + hidden_size "
                          f"{self.hidden_size} = {list(want)}")
        return (want,) * n_states

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            s += f", nonlinearity={self.nonlinearity}"
        return s


@register("rnn", "3 4", inputs=[(2, 3)])
class RNNCell(RNNCellBase):
    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", device=None,
                 dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNNCell: Unknown nonlinearity: {nonlinearity!r} (use 'tanh' or "
                             "'relu')")
        super().__init__(input_size, hidden_size, bias, 1, device=device, dtype=dtype)
        self.nonlinearity = nonlinearity
        self.mode = "RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU"


@register("rnn", "3 4", inputs=[(2, 3)], input_groups=("input", ("h_0", "c_0")))
class LSTMCell(RNNCellBase):
    mode = "LSTM"

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, 4, device=device, dtype=dtype)

    def _states(self, hx):
        if hx is None:
            return None, None
        if not (isinstance(hx, (tuple, list)) and len(hx) == 2
                and all(isinstance(t, Tensor) for t in hx)):
            raise TypeError(f"LSTMCell: hx must be a tuple (h_0, c_0) of two Tensors, got "
                            f"{type(hx).__name__}")
        return tuple(hx)


@register("rnn", "3 4", inputs=[(2, 3)])
class GRUCell(RNNCellBase):
    mode = "GRU"

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, 3, device=device, dtype=dtype)
