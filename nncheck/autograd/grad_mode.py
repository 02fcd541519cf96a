"""Global switch for graph recording: ``no_grad``, ``enable_grad``, ``set_grad_enabled``,
``inference_mode``."""

import functools
import threading

_state = threading.local()


def is_grad_enabled():
    return getattr(_state, "enabled", True)


class set_grad_enabled:
    """Context manager (and decorator) that sets whether operations record a graph."""

    def __init__(self, mode=True):
        self.prev = is_grad_enabled()
        self.mode = bool(mode)
        _state.enabled = self.mode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _state.enabled = self.prev
        return False


class _GradModeContext:
    mode = True

    def __enter__(self):
        self.prev = is_grad_enabled()
        _state.enabled = self.mode
        return self

    def __exit__(self, *exc):
        _state.enabled = self.prev
        return False

    def __call__(self, func):
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            with type(self)():
                return func(*args, **kwargs)

        return wrapper


class no_grad(_GradModeContext):
    """Operations inside do not record a graph (as ``torch.no_grad``)."""

    mode = False


class enable_grad(_GradModeContext):
    """Re-enable graph recording inside a ``no_grad`` block."""

    mode = True


def is_inference_mode_enabled():
    return getattr(_state, "inference", False)


class inference_mode(_GradModeContext):
    """``no_grad`` for code that will never need the graph (as ``torch.inference_mode``);
    ``inference_mode(False)`` changes nothing.  A context manager, and a decorator with or
    without parentheses (``@inference_mode`` / ``@inference_mode()``)."""

    def __new__(cls, mode=True):
        if callable(mode):  # used bare as a decorator: mode is the function
            return cls()(mode)
        return super().__new__(cls)

    def __init__(self, mode=True):
        self.enabled = bool(mode)

    def __enter__(self):
        self.prev = is_grad_enabled(), is_inference_mode_enabled()
        if self.enabled:
            _state.enabled, _state.inference = False, True
        return self

    def __exit__(self, *exc):
        _state.enabled, _state.inference = self.prev
        return False

    def __call__(self, func):
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            with inference_mode(self.enabled):
                return func(*args, **kwargs)

        return wrapper
