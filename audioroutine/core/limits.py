"""Documented limits on input, enforced while validating and before any synthesis.

Each keeps a hostile or mistaken input from exhausting memory or time; docs/reliability.md
names the test that proves each one.
"""

from __future__ import annotations

MAX_FILE_BYTES = 1_000_000          # a script or settings file (only this much + 1 is ever read)
MAX_DEPTH = 20                      # nested mappings/lists in a script (a real one needs 6)
MAX_VALUES = 20_000                 # values (and aliases) in a script: bounds what an alias can repeat
MAX_TEXT_CHARS = 1000               # one cue, title or other text value
MAX_COUNT = 100                     # reps, sets, countdown or any other whole number
MAX_DURATION_MS = 10 * 60_000       # one hold, rest, breath, gap... (10 minutes)
MAX_EXERCISES = 100                 # exercises in one script
MAX_LEVELS = 10                     # levels in one script
MAX_SESSION_REPS = 2000             # reps (or breaths) in one session, sides counted
MAX_SESSION_MS = 3 * 3_600_000      # one session, with estimated speech lengths (3 hours)
MAX_COVER_BYTES = 10_000_000        # a clinic's cover image file
MAX_COVER_PIXELS = 4096 * 4096      # its width × height
MAX_RECORD_BYTES = 64_000_000      # a build manifest or site record (JSON the tool wrote)
MAX_RECORD_TEXT = 4096              # one text in such a record (a file name, a title)
COVER_EDGE = 1400                   # a larger cover is scaled down to this many pixels a side

# Where a build runs (docs/reliability.md, "Bounds and timeouts").
MAX_JOBS = 64                       # --jobs: worker processes on one machine
MAX_DASK_WORKERS = 64               # --dask-local: worker processes of a local Dask cluster
SCHEDULER_TIMEOUT_S = 10.0          # --scheduler-timeout default: reach the scheduler and find a worker
MAX_SCHEDULER_TIMEOUT_S = 3600.0    # its largest value
