"""Every notebook in notebooks/ runs top to bottom on tiny data (PIXELSOUND_NOTEBOOK_TINY=1)."""

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).parents[1] / "notebooks").glob("*.ipynb"))


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path, tmp_path, monkeypatch):
    monkeypatch.setenv("PIXELSOUND_NOTEBOOK_TINY", "1")
    monkeypatch.setenv("PIXELSOUND_NOTEBOOK_DIR", str(tmp_path))
    monkeypatch.chdir(tmp_path)  # a notebook that writes into its cwd writes into tmp_path
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(
        notebook, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    errors = [
        o
        for c in notebook.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if o.output_type == "error"
    ]
    assert not errors
    assert os.listdir(tmp_path), "a notebook should leave its outputs (wav, png, mp4) in its working folder"


def test_notebooks_exist():
    assert NOTEBOOKS, "notebooks/ holds the walkthroughs the tests execute"
