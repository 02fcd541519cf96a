"""Output: rich tables for people (plain when piped, NO_COLOR respected), JSON for tools."""

import json
import sys


def console(stderr=False):
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    # piped output is read by people too: don't squeeze tables into 80 columns
    width = None if stream.isatty() else 160
    return Console(stderr=stderr, soft_wrap=True, width=width)


def table(title, columns):
    from rich.table import Table

    t = Table(title=title, title_justify="left")
    for c in columns:
        t.add_column(c, overflow="fold")
    return t


def print_json(obj):
    """Exactly one JSON object on stdout."""
    sys.stdout.write(json.dumps(obj, default=_default) + "\n")


def _default(value):
    from ..shapes import is_symbolic

    if hasattr(value, "tolist"):
        return value.tolist()
    if is_symbolic(value):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
