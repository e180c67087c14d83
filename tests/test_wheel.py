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


def build_wheel(tmp_path: Path) -> Path:
    """The wheel of a copy of the repository's package (built in ``tmp_path``, never in the repository)."""
    source = tmp_path / "src"
    shutil.copytree(ROOT / "pixelsound", source / "pixelsound", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md", "setup.cfg"):
        shutil.copy(ROOT / name, source / name)
    command = [sys.executable, "-m", "pip", "wheel", str(source), "-w", str(tmp_path / "dist"), "--no-deps",
               "--no-build-isolation", "-q"]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    (wheel,) = (tmp_path / "dist").glob("pixelsound-*.whl")
    return wheel


@pytest.mark.slow
def test_wheel_holds_the_package_data_and_the_command(tmp_path):
    wheel = build_wheel(tmp_path)
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


@pytest.mark.slow
def test_wheel_installs_in_a_fresh_venv_and_every_verb_runs_on_the_bundled_model(tmp_path):
    """Installed from its wheel into a new venv (the dependencies seen through a .pth file: no network here),
    outside the repository, `pixelsound` separates, listens to pixels, scores and dubs the bundled clips."""
    wheel = build_wheel(tmp_path)
    venv = tmp_path / "fresh"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import site; print(site.getsitepackages()[0])"],
                          capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    deps = [p for p in sys.path if p.endswith("site-packages") and "pixelsound" not in p]
    (Path(site) / "deps.pth").write_text("\n".join(deps) + "\n")
    install = [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q", str(wheel)]
    done = subprocess.run(install, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    command, work = venv / "bin" / "pixelsound", tmp_path / "work"
    work.mkdir()
    where = subprocess.run([str(python), "-c", "import pixelsound; print(pixelsound.__file__)"], cwd=work,
                           capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert where.startswith(site), where  # the installed copy, not the repository
    samples = sorted(Path(where).parent.joinpath("assets", "samples").glob("*.mp4"))
    assert len(samples) == 2
    runs = {
        "separate": ["separate", *map(str, samples), "--out", "sep"],
        "pixels": ["pixels", str(samples[0]), "--out", "px"],
        "score": ["score", str(samples[0]), "--audio", str(samples[0]), "--json"],
        "foley": ["foley", str(samples[1]), "-o", "dub.mp4"],
    }
    for verb, args in runs.items():
        done = subprocess.run([str(command), *args], cwd=work, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, f"{verb}: {done.stderr[-2000:]}"
    assert any((work / "sep").rglob("*.wav")) and any((work / "px").rglob("*.wav"))
    assert (work / "dub.mp4").stat().st_size > 0
