"""``repr`` of tensors in PyTorch's style: ``tensor([[1., 2.]], requires_grad=True)``."""

from ._lazy import np

_DEFAULT_DTYPES = ("float32", "int64", "bool")


def _formatter(arr):
    """Element formatter with PyTorch's rules: one style and one width for the whole tensor."""
    if arr.dtype.kind == "f":
        finite = arr[np.isfinite(arr)]
        nonzero = np.abs(finite[finite != 0])
        if finite.size and np.all(finite == np.round(finite)) and nonzero.max(initial=0) < 1e8:
            style = "{:.0f}."
        elif nonzero.size and (nonzero.max() >= 1e8 or nonzero.min() < 1e-4):
            style = "{:.4e}"
        else:
            style = "{:.4f}"

        def fmt(v):
            return style.format(v) if np.isfinite(v) else str(v)
    elif arr.dtype.kind == "b":
        def fmt(v):
            return "True" if v else "False"
    else:
        fmt = str
    width = max((len(fmt(v)) for v in arr.reshape(-1)[:1000]), default=0)
    pad = {"float_kind": lambda v: fmt(v).rjust(width), "int_kind": lambda v: fmt(v).rjust(width),
           "bool": lambda v: fmt(v).rjust(width)}
    return pad


def format_array(arr, prefix="tensor("):
    if arr.dtype == np.float16:
        arr = arr.astype(np.float32)
    body = np.array2string(
        arr, separator=", ", prefix=prefix, formatter=_formatter(arr), threshold=1000,
        edgeitems=3, max_line_width=80,
    )
    return body


def _meta_body(t, extras):
    """A meta tensor has no values: torch prints its size (and dtype) instead."""
    extras.append(f"size={tuple(t.shape)}")
    if t.dtype.name != "float32":
        extras.append(f"dtype={t.dtype}")
    return "..."


def _data_body(arr, dtype, extras):
    if dtype.name not in _DEFAULT_DTYPES or arr.size == 0:
        if not (arr.size == 0 and dtype.name == "float32"):
            extras.append(f"dtype={dtype}")
    if arr.size == 0 and arr.ndim != 1:
        extras.insert(0, f"size={tuple(arr.shape)}")
        return "[]"
    return format_array(arr)


def format_tensor(t):
    extras = [f"device='{t.device}'"] if t.device.type != "cpu" else []
    if t.is_meta:
        body = _meta_body(t, extras)
    else:
        from .backend import host_array  # a device tensor prints its values, as torch's

        body = _data_body(t._data if t.device.type == "cpu" else host_array(t._data), t.dtype,
                          extras)
    if t.grad_fn is not None:
        extras.append(f"grad_fn=<{t.grad_fn.name()}>")
    elif t.requires_grad:
        extras.append("requires_grad=True")
    text = "tensor(" + body + "".join(", " + e for e in extras) + ")"
    if getattr(t, "_is_param", False):
        return "Parameter containing:\n" + text
    return text
