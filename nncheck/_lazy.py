"""Modules imported on first use.

``nncheck shape`` builds one layer on meta tensors and computes nothing, so importing
numpy (more than the rest of the process together), a compiled kernel or the other
layer families would be most of its cost.  Library modules therefore write
``from nncheck._lazy import np`` and use ``np`` exactly as numpy (imported at the first
attribute read), and the packages of many families (``nncheck.nn``, its ``modules``
and ``functional``) import a family when one of its names is first read.
"""

import importlib
import sys
import types


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


def lazy_package(package, families, submodules=()):
    """Make the package ``package`` load its public names on first use (PEP 562).

    ``families`` maps each submodule (relative name) to the names it defines; reading
    one of them imports that submodule only.  ``submodules`` are exposed as themselves
    (``nn.functional``).  Returns the package's ``__all__``.
    """
    module = sys.modules[package]
    module._sources = {name: f"{package}.{family}"
                       for family, names in families.items() for name in names}
    module._submodules = frozenset(submodules)
    module._families = families
    module.__class__ = _LazyPackage
    return [*module._sources, *submodules]


def family_names(module_name):
    """A family module's ``__all__``: what its package's index lists for it, the one
    place the names are written (the package resolves them without importing it)."""
    package, _, family = module_name.rpartition(".")
    return list(sys.modules[package]._families[family])


class _LazyPackage(types.ModuleType):
    def __getattr__(self, name):  # only reached for names not bound yet
        if name in self._submodules or self._is_family(name):
            return importlib.import_module(f"{self.__name__}.{name}")
        if name not in self._sources:
            raise AttributeError(f"module {self.__name__!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(self._sources[name]), name)
        self.__dict__[name] = value  # later reads are plain attribute lookups
        return value

    def __setattr__(self, name, value):
        # Importing a submodule binds it as an attribute of the package.  Where a name
        # is also defined by the submodule of that name (F.linear, F.dropout), the
        # package's name stays the definition, as after ``from .linear import *``.
        if isinstance(value, types.ModuleType) and value.__name__ == self._sources.get(name):
            value = getattr(value, name)
        super().__setattr__(name, value)

    def _is_family(self, name):
        """A family module by its name (``nn.modules.loss``), as after a plain import of
        the package's submodules; where a family defines a name like itself
        (``F.linear``), the name is the definition."""
        return name in self._families and name not in self._sources

    def __dir__(self):
        families = (f for f in self._families if self._is_family(f))
        return sorted({*super().__dir__(), *self._sources, *self._submodules, *families})
