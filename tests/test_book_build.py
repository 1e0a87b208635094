"""A change of profile rebuilds every page of the book (.ci/build-book, which `make` calls).

A tiny book (one notebook that prints the profile in force) is built with the same script as
the real one, under one profile and then under another, in a temporary folder. Jupyter Book's
execution cache is keyed on code cells only and Sphinx keeps pages whose source did not change,
so without the script's clean-up the second build would still show the first profile.
"""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / ".ci" / "build-book"

CONFIG = """\
title: Profile test
author: d2lnotes tests
only_build_toc_files: true
execute:
  execute_notebooks: cache
  timeout: 300
  allow_errors: false
sphinx:
  config:
    nb_execution_raise_on_error: true
"""
TOC = "format: jb-book\nroot: page\n"
NOTEBOOK = {
    "cells": [
        {"cell_type": "markdown", "metadata": {}, "source": ["# Profile page"]},
        {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
         "source": ["from d2lnotes.settings import get_profile\n",
                    "print(\"profile\", get_profile().name)"]},
    ],
    "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python",
                                "name": "python3"},
                 "language_info": {"name": "python"}},
    "nbformat": 4,
    "nbformat_minor": 5,
}
SHOWN = re.compile(r"profile (\w+)")


def _require_jupyter_book():
    try:
        import jupyter_book  # noqa: F401
    except ImportError:
        pytest.skip("jupyter-book is not installed (pip install -r requirements.txt): "
                    "the book build cannot be tested")


def _build(book: Path, profile: str) -> str:
    env = dict(os.environ, D2LNOTES_PROFILE=profile, D2LNOTES_PYTHON=sys.executable,
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT),
                                                        os.environ.get("PYTHONPATH")])))
    done = subprocess.run(["bash", str(SCRIPT), str(book), "-W", "-n", "--keep-going"],
                          env=env, capture_output=True, text=True, timeout=900)
    out = done.stdout + done.stderr
    assert done.returncode == 0, f"build under {profile} failed:\n{out[-4000:]}"
    return out


def _profiles_shown(book: Path) -> list[str]:
    html = (book / "_build" / "html" / "page.html").read_text()
    text = re.sub(r"<[^>]+>", "", html)  # the page's text: the printed output, not the code
    return SHOWN.findall(text)


def test_a_profile_change_rebuilds_every_page(tmp_path):
    _require_jupyter_book()
    book = tmp_path / "book"
    book.mkdir()
    (book / "_config.yml").write_text(CONFIG)
    (book / "_toc.yml").write_text(TOC)
    (book / "page.ipynb").write_text(json.dumps(NOTEBOOK, indent=1))

    first = _build(book, "smoke")
    assert "book key: smoke-" in first
    assert _profiles_shown(book) == ["smoke"]

    second = _build(book, "quick")
    assert "book key changed (smoke-" in second, second[-2000:]
    assert (book / "_build" / ".cache-key").read_text().startswith("quick-")
    assert _profiles_shown(book) == ["quick"], (
        "the page still shows the first profile after a rebuild under another one")


def test_the_script_refuses_a_missing_book_folder(tmp_path):
    done = subprocess.run(["bash", str(SCRIPT), str(tmp_path / "nowhere")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "usage" in done.stderr
