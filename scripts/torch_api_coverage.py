"""How much of the torch API nncheck provides: public callables of ``torch.*`` (by
``nncheck.*``) and public attributes of ``torch.Tensor`` (by ``nncheck.Tensor``).

    python scripts/torch_api_coverage.py            the counts
    python scripts/torch_api_coverage.py --missing  the counts and every missing name
    python scripts/torch_api_coverage.py --write    rewrite tests/data/torch_api_missing.txt

tests/test_torch_api_coverage.py compares the missing names with that file, so that
adding a name without updating the list (or a list naming something now provided)
fails: the coverage numbers cannot drift silently.
"""

import argparse
import sys
from pathlib import Path

MISSING_FILE = Path(__file__).resolve().parent.parent / "tests" / "data" / "torch_api_missing.txt"


def torch_api():
    """(public callables of torch.*, public attributes of torch.Tensor), sorted."""
    import torch

    functions = sorted(n for n in dir(torch)
                       if not n.startswith("_") and callable(getattr(torch, n, None)))
    attributes = sorted(n for n in dir(torch.Tensor) if not n.startswith("_"))
    return functions, attributes


def coverage():
    """{"torch": (provided, total), "Tensor": (provided, total), "missing": [qualified names]}."""
    import nncheck

    functions, attributes = torch_api()
    # a tensor's own attributes (grad, requires_grad, ...) count with its class's
    tensor_names = set(dir(nncheck.zeros(2, 2)))
    missing_functions = [n for n in functions if not callable(getattr(nncheck, n, None))]
    missing_attributes = [n for n in attributes if n not in tensor_names]
    return {
        "torch": (len(functions) - len(missing_functions), len(functions)),
        "Tensor": (len(attributes) - len(missing_attributes), len(attributes)),
        "missing": [f"torch.{n}" for n in missing_functions]
        + [f"Tensor.{n}" for n in missing_attributes],
    }


def read_missing_file(path=MISSING_FILE):
    """(torch version the list was made with, set of missing names)."""
    version, names = None, set()
    for line in path.read_text().splitlines():
        if line.startswith("# torch "):
            version = line.split()[2]
        elif line and not line.startswith("#"):
            names.add(line)
    return version, names


def write_missing_file(report, path=MISSING_FILE):
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    (t_have, t_all), (m_have, m_all) = report["torch"], report["Tensor"]
    header = [
        "# The torch API nncheck does not provide (scripts/torch_api_coverage.py --write).",
        f"# torch {torch.__version__}",
        f"# torch.* callables: {t_have}/{t_all} provided; Tensor attributes: {m_have}/{m_all}",
    ]
    path.write_text("\n".join([*header, *report["missing"]]) + "\n")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--missing", action="store_true", help="list every missing name")
    parser.add_argument("--write", action="store_true", help=f"rewrite {MISSING_FILE.name}")
    args = parser.parse_args(argv)
    report = coverage()
    for what in ("torch", "Tensor"):
        have, total = report[what]
        label = "torch.* callables" if what == "torch" else "Tensor attributes"
        print(f"{label:18} {have:4d} / {total:4d}  ({100 * have / total:.1f}%)")
    if args.missing:
        print("\n".join(report["missing"]))
    if args.write:
        write_missing_file(report)
        print(f"wrote {MISSING_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
