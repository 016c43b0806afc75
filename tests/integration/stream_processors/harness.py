"""The tests' name for :mod:`deploy.stack.pipeline` (shared with the benchmarks)."""

from deploy.stack.pipeline import *  # noqa: F403
from deploy.stack.pipeline import ROOT, STAGES, WorkerProcess, group_lag, latest  # noqa: F401
