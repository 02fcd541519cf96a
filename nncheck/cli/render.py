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


def text_table(columns, rows, footer=None):
    """A boxed table as plain lines, drawn without rich: long tables (a model's summary) are
    on the latency path, and rich's layout of a few hundred cells costs more than the rest
    of the command.  ``footer`` is a last row set apart by a rule (totals)."""
    body = [[str(c) for c in row] for row in rows + ([footer] if footer else [])]
    widths = [max(len(str(h)), *(len(r[i]) for r in body)) for i, h in enumerate(columns)]

    def line(cells):
        return "│ " + " │ ".join(c.ljust(w) for c, w in zip(cells, widths)) + " │"

    def rule(left, mid, right):
        return left + mid.join("─" * (w + 2) for w in widths) + right

    lines = [rule("┌", "┬", "┐"), line([str(c) for c in columns]), rule("├", "┼", "┤")]
    lines += [line(r) for r in body[:len(rows)]]
    if footer:
        lines += [rule("├", "┼", "┤"), line(body[-1])]
    return lines + [rule("└", "┴", "┘")]


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
