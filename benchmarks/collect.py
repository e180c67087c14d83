"""Gather benchmarks/results/*.md (one file per benchmark, with its command) into benchmarks/RESULTS.md.

python benchmarks/collect.py
"""

from pathlib import Path

HERE = Path(__file__).resolve().parent
ORDER = [
    "train", "step_cuda", "separate", "bss_eval", "pixels", "duets", "duets_grid14", "duets_fresh",
    "objects_tuning", "rectangles", "foley", "foley_layers", "score",
]  # fmt: skip

HEADER = """# Benchmark results

Measured on the development machine (2 CPU cores, no GPU) unless a section says otherwise. Each section
names the command that produced it; rerun that command to refresh its file in `benchmarks/results/`, then
`python benchmarks/collect.py`. The machine was shared with other work during some runs: such wall times
are pessimistic, and the sections say so where it mattered.
"""


def main() -> None:
    files = sorted(
        (HERE / "results").glob("*.md"),
        key=lambda p: (ORDER.index(p.stem) if p.stem in ORDER else 99, p.stem),
    )
    parts = [HEADER]
    for path in files:
        text = path.read_text().strip()
        parts.append("\n".join(("#" + line) if line.startswith("#") else line for line in text.splitlines()))
    (HERE / "RESULTS.md").write_text("\n\n".join(parts) + "\n")
    print(f"RESULTS.md from {len(files)} files: {', '.join(p.stem for p in files)}")


if __name__ == "__main__":
    main()
