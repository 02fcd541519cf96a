"""The torch API coverage cannot drift silently: the names nncheck lacks must be exactly
tests/data/torch_api_missing.txt (regenerate with scripts/torch_api_coverage.py --write
after adding or removing API, and update the numbers in README)."""

import importlib.util
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("torch_api_coverage",
                                               ROOT / "scripts" / "torch_api_coverage.py")
coverage_script = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(coverage_script)


def test_missing_names_match_the_checked_in_list():
    version, listed = coverage_script.read_missing_file()
    if version != torch.__version__:
        pytest.skip(f"the list was made with torch {version}, this is {torch.__version__}")
    missing = set(coverage_script.coverage()["missing"])
    now_provided = sorted(listed - missing)
    newly_missing = sorted(missing - listed)
    assert not now_provided, (f"provided now, still listed as missing: {now_provided}; run "
                              "scripts/torch_api_coverage.py --write")
    assert not newly_missing, (f"missing, not in the list: {newly_missing}; run "
                               "scripts/torch_api_coverage.py --write")


def test_list_header_numbers_match():
    version, listed = coverage_script.read_missing_file()
    if version != torch.__version__:
        pytest.skip(f"the list was made with torch {version}, this is {torch.__version__}")
    report = coverage_script.coverage()
    (t_have, t_all), (m_have, m_all) = report["torch"], report["Tensor"]
    text = coverage_script.MISSING_FILE.read_text()
    assert f"torch.* callables: {t_have}/{t_all} provided; Tensor attributes: {m_have}/{m_all}" \
        in text
    assert f"{t_have}/{t_all}" in (ROOT / "README.md").read_text()
    assert f"{m_have}/{m_all}" in (ROOT / "README.md").read_text()
