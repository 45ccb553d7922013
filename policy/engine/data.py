"""JSONL inputs of the policy commands, checked line by line (errors name the line and field)."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .generate import Prompt


class PolicyDataError(ValueError):
    """A bad input file; the message names the file, line and field."""


def read_jsonl(path: str | Path) -> Iterator[tuple[str, Any]]:
    """(where, record) per non-empty line; .gz files are read compressed."""
    path = Path(path)
    if not path.is_file():
        raise PolicyDataError(f"{path}: no such file")
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                yield f"{path}:{number}", json.loads(line)
            except json.JSONDecodeError as exc:
                raise PolicyDataError(f"{path}:{number}: not JSON ({exc.msg})") from None


def is_chat(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(
        isinstance(t, dict) and isinstance(t.get("role"), str) and isinstance(t.get("content"), str) for t in value)


def check_prompt(value: Any, where: str) -> Prompt:
    if isinstance(value, str) and value.strip():
        return value
    if is_chat(value):
        return value
    raise PolicyDataError(f"{where}: prompt must be a non-empty string or a list of {{role, content}} turns")


def read_prompts_file(path: str | Path) -> list[Prompt]:
    """Lines {"prompt": text or chat turns}."""
    prompts = []
    for where, record in read_jsonl(path):
        if not isinstance(record, dict) or "prompt" not in record:
            raise PolicyDataError(f'{where}: each line must be an object with a "prompt"')
        prompts.append(check_prompt(record["prompt"], where))
    if not prompts:
        raise PolicyDataError(f"{path}: no prompts")
    return prompts
