"""The checkpoint folder convention shared by the trainer (writes) and the endpoint (hot reload).

A checkpoint is an HF model folder (``config.json``, weights, tokenizer files) holding
``rftgym_checkpoint.json`` = ``{"version": "step-12", "step": 12}``. That file is written last,
so a folder without it is incomplete and never loaded. A run's checkpoints live side by side in
one folder (``<output_dir>/checkpoints/step-000012``); :func:`latest_checkpoint` finds the newest.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

MARKER = "rftgym_checkpoint.json"


def checkpoint_info(path: str | Path) -> dict[str, Any] | None:
    """The marker of a complete checkpoint folder (``version``, ``step``), or None if it is not one."""
    marker = Path(path) / MARKER
    try:
        info = json.loads(marker.read_text())
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) and "version" in info else None


def latest_checkpoint(folder: str | Path) -> Path | None:
    """The complete checkpoint with the highest ``step`` directly under ``folder``, or None."""
    best: tuple[int, Path] | None = None
    root = Path(folder)
    if not root.is_dir():
        return None
    for child in root.iterdir():
        info = checkpoint_info(child)
        if info is not None and (best is None or int(info.get("step", 0)) > best[0]):
            best = (int(info.get("step", 0)), child)
    return None if best is None else best[1]


def write_marker(path: str | Path, step: int) -> str:
    """Mark ``path`` as a complete checkpoint of training step ``step``; returns its version."""
    version = f"step-{step}"
    tmp = Path(path) / (MARKER + ".tmp")
    tmp.write_text(json.dumps({"version": version, "step": step}))
    tmp.rename(Path(path) / MARKER)
    return version
