"""Shared fixtures. The tests use the real Fashion-MNIST: set D2LNOTES_DATA to its folder."""
import matplotlib

matplotlib.use("Agg")  # tests draw figures without a display

import pytest  # noqa: E402

from d2lnotes import data  # noqa: E402


@pytest.fixture(scope="session")
def fmnist_root():
    """The data root the package would use; fail early and clearly if the files are absent."""
    root = data.data_root()
    missing = data._missing_files(root)
    if missing:
        pytest.fail(f"Fashion-MNIST missing under {root}: {missing}; set {data.ENV_VAR}")
    return root
