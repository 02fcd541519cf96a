"""Modules imported on first use.

``nncheck shape`` builds one layer on meta tensors and computes nothing, so importing
numpy (more than the rest of the process together) or a compiled kernel would be most
of its cost.  Library modules therefore write ``from nncheck._lazy import np`` and use
``np`` exactly as numpy; it is imported at the first attribute read.
"""

import importlib


class LazyModule:
    """Stands for the module ``name``, which is imported when an attribute is first read."""

    def __init__(self, name):
        self._name = name

    def __getattr__(self, attr):
        value = getattr(importlib.import_module(self._name), attr)
        setattr(self, attr, value)  # later reads are plain attribute lookups
        return value

    def __repr__(self):
        return f"<lazy module {self._name!r}>"


np = LazyModule("numpy")

