"""A wheel built from the repository carries what the verbs need: the bundled model, the sample clips, the
listening page, the `pixelsound` command and the dependencies (built from a copy, never in the repository)."""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ASSETS = sorted(
    p.relative_to(ROOT).as_posix() for p in (ROOT / "pixelsound" / "assets").rglob("*") if p.is_file()
)


@pytest.mark.slow
def test_wheel_holds_the_package_data_and_the_command(tmp_path):
    source = tmp_path / "src"
    shutil.copytree(ROOT / "pixelsound", source / "pixelsound", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md", "setup.cfg"):
        shutil.copy(ROOT / name, source / name)
    command = [sys.executable, "-m", "pip", "wheel", str(source), "-w", str(tmp_path / "dist"), "--no-deps",
               "--no-build-isolation", "-q"]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    (wheel,) = (tmp_path / "dist").glob("pixelsound-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        info = next(n for n in names if n.endswith(".dist-info/METADATA"))
        metadata = archive.read(info).decode()
        entry_points = archive.read(info.replace("METADATA", "entry_points.txt")).decode()
    assert {"pixelsound/assets/model/model.safetensors", "pixelsound/assets/model/config.json",
            "pixelsound/assets/page/index.html"} <= set(ASSETS)  # fmt: skip
    assert set(ASSETS) <= names and any(n.startswith("pixelsound/assets/samples/") for n in names)
    assert {"pixelsound/cli.py", "pixelsound/errors.py", "pixelsound/loudness.py"} <= names
    assert "pixelsound = pixelsound.cli:main" in entry_points
    for requirement in ("torch", "av", "safetensors", "pyloudnorm"):
        assert f"Requires-Dist: {requirement}" in metadata
