"""Fixtures shared by all test modules, and the order of the test files.

The real Chinese BERT vocab and the GAOKAO corpus live in ../shared/reference beside the checkout
(CI has it). EDU_MLM_REFERENCE_DIR points elsewhere; where neither exists the tests that need them
skip and say why (a user's machine has no ../shared).
"""

import os
import pathlib

import pytest

REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent
SAMPLE_DIR = REPO_ROOT / "data" / "sample"


def _reference_dir():
    return pathlib.Path(os.environ.get("EDU_MLM_REFERENCE_DIR",
                                       REPO_ROOT.parent / "shared" / "reference"))


@pytest.fixture(scope="session")
def repo_root():
    return REPO_ROOT


@pytest.fixture(scope="session")
def sample_dir():
    return SAMPLE_DIR


@pytest.fixture(scope="session")
def reference_vocab():
    """Google's Chinese BERT vocab.txt (21128 entries)."""
    path = _reference_dir() / "chinese_bert_vocab.txt"
    if not path.exists():
        pytest.skip(f"real Chinese BERT vocab not found at {path}; set EDU_MLM_REFERENCE_DIR")
    return path


@pytest.fixture(scope="session")
def reference_corpus():
    """GAOKAO-Bench education text, one passage per line."""
    path = _reference_dir() / "gaokao_corpus.txt"
    if not path.exists():
        pytest.skip(f"reference corpus not found at {path}; set EDU_MLM_REFERENCE_DIR")
    return path


@pytest.fixture(scope="session")
def distill_inputs(tmp_path_factory):
    """A tiny teacher and pretraining data for the distiller's tests, built once per test run for
    all the workers (`tests/helpers_distill.py`); read-only."""
    from tests.helpers_distill import teacher_and_data

    return teacher_and_data(tmp_path_factory)


def pytest_collection_modifyitems(items):
    """Files with a slow test first (each file keeps its own order): `make test` hands whole
    files to its workers in this order (pytest-xdist, --dist loadfile), so the long ones start
    early and the quick ones fill the workers up at the end instead of one long file running
    alone last."""
    slow_files = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow_files)
