"""Where a gradient check's error lives: |analytic - numeric| as a heatmap.

A small Jacobian is drawn whole (rows: output elements, columns: the checked tensor's
elements), so a transposed block shows as such; a large one is drawn over the tensor's
elements (max over the outputs), laid out as (leading dims) x (last dim), so a bad
border or a bad channel shows as a frame or a band.  Grids too big for a terminal are
reduced by max over blocks of cells.  The same grid goes to the terminal (rich) and, with
``--plot``, to an image (matplotlib, an optional extra).
"""

from dataclasses import dataclass

from .._lazy import np
from .parsing import UsageError

MAX_ROWS, MAX_COLS = 32, 48  # terminal cells (each cell is two characters wide)
SHADES = ("  ", "░░", "▒▒", "▓▓")  # entries within tolerance, by error relative to the max
FAILED = "██"


@dataclass
class Grid:
    error: object  # 2-D float array: max |analytic - numeric| per cell
    failed: object  # 2-D bool array: some entry of the cell is out of tolerance
    title: str
    row_label: str
    col_label: str
    block: tuple  # (rows, columns) of entries per cell
    row_names: list  # per grid row: the index of its first entry


def error_grid(check, max_rows=MAX_ROWS, max_cols=MAX_COLS):
    """The heatmap of one TensorCheck, or None when it kept no error map."""
    what = f"|analytic - numeric| for {check.wrt} {list(check.shape)}"
    jac = check.jacobian_error
    if jac is not None and jac.shape[0] <= max_rows and jac.shape[1] <= max_cols:
        return Grid(jac, check.jacobian_failed, what, "output element (flat)",
                    f"{check.wrt} element (flat)", (1, 1), [str(r) for r in range(len(jac))])
    if check.column_error is None:
        return None
    shape = tuple(check.shape) or (1,)
    rows = int(np.prod(shape[:-1])) if len(shape) > 1 else 1
    error = np.asarray(check.column_error).reshape(rows, shape[-1])
    failed = np.asarray(check.column_failed).reshape(rows, shape[-1])
    error, failed, block = _reduce(error, failed, max_rows, max_cols)
    names = [",".join(str(int(i)) for i in np.unravel_index(r * block[0], shape[:-1]))
             for r in range(len(error))] if len(shape) > 1 else [""]
    return Grid(error, failed, what + ", max over outputs",
                "leading indices" if len(shape) > 1 else "", "last index", block, names)


def _reduce(error, failed, max_rows, max_cols):
    """Max over blocks so the grid fits; a cell fails if any entry in it does."""
    br, bc = -(-error.shape[0] // max_rows), -(-error.shape[1] // max_cols)
    r, c = -(-error.shape[0] // br), -(-error.shape[1] // bc)
    pad = ((0, r * br - error.shape[0]), (0, c * bc - error.shape[1]))
    error = np.pad(error, pad).reshape(r, br, c, bc).max(axis=(1, 3))
    failed = np.pad(failed, pad).reshape(r, br, c, bc).any(axis=(1, 3))
    return error, failed, (br, bc)


def render(grid):
    """The grid as rich Text: failing cells as red blocks, the others shaded by error."""
    from rich.text import Text

    text = Text()
    block = "" if grid.block == (1, 1) else f"; each cell: max over {grid.block[0]}x" \
                                            f"{grid.block[1]} entries"
    text.append(f"{grid.title}{block}\n", style="bold")
    text.append(f"rows: {grid.row_label}, columns: {grid.col_label}; "
                f"{FAILED} out of tolerance, {SHADES[3]}{SHADES[2]}{SHADES[1]} within "
                "(darker: larger)\n")
    top = float(grid.error.max()) or 1.0
    width = max(len(name) for name in grid.row_names)
    text.append(" " * (width + 1) + _column_header(grid.error.shape[1], grid.block[1]) + "\n",
                style="dim")
    for r in range(grid.error.shape[0]):
        text.append(f"{grid.row_names[r]:>{width}} ", style="dim")
        for c in range(grid.error.shape[1]):
            if grid.failed[r, c]:
                text.append(FAILED, style="red")
            else:
                text.append(SHADES[_shade(grid.error[r, c] / top)], style="grey50")
        text.append("\n")
    return text


def _shade(fraction):
    """Shade index of an error within tolerance, by decades below the largest error."""
    return int(np.searchsorted([1e-6, 1e-3, 1e-1], fraction, side="right"))


def require_matplotlib():
    """Fail before a long check, not after it, when --plot cannot be honoured."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise UsageError("--plot needs matplotlib: pip install 'nncheck[plot]'") from None


def _column_header(n_cells, per_cell, every=5):
    """Column indices above every ``every``-th cell (two characters per cell)."""
    header = [" "] * (2 * n_cells)
    for c in range(0, n_cells, every):
        label = str(c * per_cell)
        header[2 * c:2 * c + len(label)] = label
    return "".join(header[:2 * n_cells])


def save_plot(grid, path):
    """Write the grid as an image (log colour scale, failing cells outlined)."""
    require_matplotlib()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 6))
    shown = np.log10(np.maximum(grid.error, 1e-300))
    image = ax.imshow(np.maximum(shown, shown.max() - 12), cmap="viridis", aspect="auto",
                      interpolation="nearest")
    fig.colorbar(image, ax=ax, label="log10 |analytic - numeric|")
    rows, cols = np.nonzero(grid.failed)
    ax.scatter(cols, rows, marker="s", s=30, facecolors="none", edgecolors="red")
    ax.set_title(grid.title + "\n(red squares: out of tolerance)", fontsize=9)
    ax.set_yticks(range(len(grid.row_names)), grid.row_names, fontsize=7)
    ax.set_ylabel(f"{grid.row_label} (x{grid.block[0]})" if grid.block[0] > 1
                  else grid.row_label)
    ax.set_xlabel(f"{grid.col_label} (x{grid.block[1]})" if grid.block[1] > 1
                  else grid.col_label)
    try:
        fig.savefig(path, dpi=120)
    except OSError as exc:
        raise UsageError(f"--plot: cannot write {path}: {exc.strerror or exc}") from None
    finally:
        plt.close(fig)
