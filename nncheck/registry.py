"""The layer registry: every layer class the CLI can build, with an example configuration.

A layer module decorates its classes with ``@register(family, example, inputs)``;
``nncheck list``, ``shape``, ``forward`` and ``gradcheck --all`` read this table,
so a new layer appears in the CLI without any CLI change.
"""

import inspect
from dataclasses import dataclass, field

_LAYERS = {}


@dataclass
class LayerInfo:
    name: str
    cls: type
    family: str
    example: str  # constructor arguments as typed on the command line
    inputs: list  # example input shapes
    make_inputs: object = None  # (shapes, rng, np_dtype) -> list of arrays, for special inputs
    grad_inputs: tuple = None  # indices of inputs to differentiate (None: all floating ones)
    train: bool = True  # gradcheck --all in training mode
    gradcheck: bool = True
    # forward's tensor arguments in order, a tuple of names for one that takes a tuple of
    # tensors: LSTM's ("input", ("h_0", "c_0")) says hx is the pair (h_0, c_0), which the
    # command line gives as two --in tensors; None: one tensor each
    input_groups: tuple = None
    options: dict = field(default_factory=dict)

    def forward_args(self, tensors):
        """The command line's flat tensors as forward's arguments (a pair becomes a tuple)."""
        if self.input_groups is None:
            return list(tensors)
        args, start = [], 0
        for group in self.input_groups:
            if start >= len(tensors):
                break
            if isinstance(group, str):
                args.append(tensors[start])
                start += 1
            else:
                args.append(tuple(tensors[start:start + len(group)]))
                start += len(group)
        return args + list(tensors[start:])

    @property
    def signature(self):
        sig = inspect.signature(self.cls.__init__)
        params = [p for name, p in sig.parameters.items() if name != "self"]
        return f"{self.name}({', '.join(str(p) for p in params)})"

    @property
    def example_command(self):
        shapes = " ".join("--in " + ",".join(map(str, s)) for s in self.inputs)
        return f"nncheck shape {self.name} {self.example} {shapes}".replace("  ", " ")


def register(family, example="", inputs=((2, 3),), **options):
    """Class decorator adding a layer to the registry."""

    def decorate(cls):
        known = {"make_inputs", "grad_inputs", "train", "gradcheck", "input_groups"}
        extra = {k: v for k, v in options.items() if k not in known}
        fields = {k: v for k, v in options.items() if k in known}
        _LAYERS[cls.__name__] = LayerInfo(cls.__name__, cls, family, example,
                                          [tuple(s) for s in inputs], options=extra, **fields)
        return cls

    return decorate


def layers():
    """All registered layers: importing every family registers its layers."""
    from .nn import modules

    for name in modules.__all__:
        getattr(modules, name)
    return dict(_LAYERS)


def info_of(module):
    """The registry's entry for ``module``'s class, None for a class it does not hold."""
    info = _LAYERS.get(type(module).__name__)
    return info if info is not None and info.cls is type(module) else None


def get(name):
    """The layer called ``name``; an exact name imports its family only (``nncheck shape``)."""
    from .nn import modules

    getattr(modules, name, None)  # imports the family that defines the name, if any
    if name in _LAYERS:
        return _LAYERS[name]
    table = layers()
    lowered = {k.lower(): k for k in table}
    if name.lower() in lowered:
        return table[lowered[name.lower()]]
    import difflib

    close = difflib.get_close_matches(name, list(table), n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else "; run 'nncheck list' to see all"
    raise KeyError(f"unknown layer {name!r}{hint}")
