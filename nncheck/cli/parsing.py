"""Command-line argument syntax: literals, shapes, layer chains, FILE.py:Name.

Arguments are parsed with ``ast.literal_eval`` and ``ast.parse`` (for the call
syntax of ``summary`` chains) — never ``eval``: no argument is run as code.
"""

import ast
import re

from ..shapes import Sym


class UsageError(Exception):
    """Bad usage or bad input: the CLI prints ``Error: <message>`` and exits with 2."""


def parse_literal(text, what):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        # a bare word is taken as a string, so `mode=reflect` works without shell quoting
        if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_\-]*", text):
            return text
        raise UsageError(f"cannot parse {what} {text!r}: expected a Python literal such as "
                         "16, (3,5), 'reflect' or True") from None


def parse_layer_args(tokens):
    """Split CLI tokens into positional and keyword constructor arguments."""
    args, kwargs = [], {}
    for tok in tokens:
        m = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_]*)=(.*)", tok, flags=re.S)
        if m:
            name, value = m.groups()
            if name in kwargs:
                raise UsageError(f"keyword argument {name!r} given twice")
            kwargs[name] = parse_literal(value, f"argument {name}=")
        else:
            if kwargs:
                raise UsageError(f"positional argument {tok!r} follows keyword arguments")
            args.append(parse_literal(tok, "argument"))
    return args, kwargs


def parse_shape(text):
    """'20,16,50,100' or '20x16x50x100' -> (20, 16, 50, 100); '' or '()' -> ()."""
    raw = text.strip()
    if raw in ("", "()", "[]", "scalar"):
        return ()
    parts = [p.strip() for p in re.split(r"[,x×]", raw.strip("()[] ")) if p.strip()]
    shape = []
    for p in parts:
        if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", p):
            shape.append(Sym(p))  # a symbolic dimension: N, H, W, ...
            continue
        if not re.fullmatch(r"[+-]?\d+", p):
            raise UsageError(f"--in {text!r}: dimension {p!r} is not an integer or a name "
                             "(expected e.g. 20,16,50,100 or N,3,H,W)")
        value = int(p)
        if value < 0:
            raise UsageError(f"--in {text!r}: dimension {value} is negative")
        shape.append(value)
    return tuple(shape)


def split_chain(spec):
    """'Conv2d(1,20,5) ReLU() MaxPool2d(2)' -> ['Conv2d(1,20,5)', 'ReLU()', 'MaxPool2d(2)']."""
    items, depth, current = [], 0, []
    for ch in spec:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
            if depth < 0:
                raise UsageError(f"unbalanced parentheses in {spec!r}")
        if (ch.isspace() or ch in ",;") and depth == 0:
            if current:
                items.append("".join(current))
                current = []
            continue
        current.append(ch)
    if depth:
        raise UsageError(f"unbalanced parentheses in {spec!r}")
    if current:
        items.append("".join(current))
    return items


def parse_call(item):
    """'Conv2d(1, 20, 5, stride=2)' -> ('Conv2d', [1, 20, 5], {'stride': 2}), literals only."""
    text = item if "(" in item else item + "()"
    try:
        node = ast.parse(text, mode="eval").body
    except SyntaxError:
        raise UsageError(f"cannot parse layer {item!r}: expected Name(arg, ..., key=value)") \
            from None
    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
        raise UsageError(f"cannot parse layer {item!r}: expected Name(arg, ..., key=value)")
    try:
        args = [ast.literal_eval(a) for a in node.args]
        kwargs = {k.arg: ast.literal_eval(k.value) for k in node.keywords}
    except ValueError:
        raise UsageError(f"layer {item!r}: arguments must be literals") from None
    return node.func.id, args, kwargs
