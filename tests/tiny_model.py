"""The tiny random-init model the serving and training tests share, built once per test session."""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from pathlib import Path


@functools.cache
def tiny_model_path() -> Path:
    """A folder holding the tiny model (seed 0), removed when the test process exits."""
    from rftgym.models import build_tiny_model

    folder = Path(tempfile.mkdtemp(prefix="rftgym-tiny-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return build_tiny_model(folder / "tiny")
