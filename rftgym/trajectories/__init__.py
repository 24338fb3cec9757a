"""Trajectory files: the schema, a crash-safe writer, streaming readers and summary statistics."""

from rftgym.trajectories.io import (
    TrajectoryFileError,
    TrajectoryWriter,
    completed_ids,
    is_trajectory_file,
    read_trajectories,
    validate_file,
)
from rftgym.trajectories.schema import SCHEMA, Trajectory, Turn
from rftgym.trajectories.stats import pass_at_k, pass_hat_k, stats_table, summarize

__all__ = [
    "SCHEMA",
    "Trajectory",
    "TrajectoryFileError",
    "TrajectoryWriter",
    "Turn",
    "completed_ids",
    "is_trajectory_file",
    "pass_at_k",
    "pass_hat_k",
    "read_trajectories",
    "stats_table",
    "summarize",
    "validate_file",
]
