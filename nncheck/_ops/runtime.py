"""Runtime switches PyTorch model code calls around the math: ``torch._assert``,
``torch.compile``, ``torch.autocast``.  nncheck has no compiler and no mixed precision,
so these are what they mean when they change nothing, and refuse where they would."""


def _assert(condition, message):
    """``torch._assert`` (torchvision's shape checks): AssertionError when false."""
    if not condition:
        raise AssertionError(message)


def compile(model=None, **options):
    """``torch.compile``: the compiled model computes what the model computes, so nncheck
    returns it unchanged (also as ``@compile`` / ``@compile(...)``)."""
    if model is None:
        return lambda fn: fn
    return model


_autocast_enabled = [False]


class autocast:
    """``torch.autocast``: ``enabled=False`` (how models switch it off around precise
    math) is a no-op; nncheck computes in the tensors' own dtypes, so enabling it raises
    rather than silently computing at a precision other than PyTorch's."""

    def __init__(self, device_type="cpu", dtype=None, enabled=True, cache_enabled=None):
        if enabled:
            raise NotImplementedError("autocast(enabled=True) is not provided by nncheck: it "
                                      "computes in the tensors' own dtypes; cast with "
                                      ".to(dtype) instead")
        self.enabled = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def __call__(self, func):
        return func


def is_autocast_enabled(device_type=None):
    return False
