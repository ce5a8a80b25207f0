"""Prescriptions and progressions, built on the public model and build API.

- `progression`: a routine's levels as points on a path of weeks (or stages), derived as a
  new `Routine` with one level per week (`dataclasses.replace`, the compiler is unchanged).
- `prescription`: one row or entry per patient (CSV or YAML), derived routines per patient.
- `handout`: a printable PDF and an HTML page beside each session.
- `batch`: validate everything, then build every patient's folder through `build_batch`.
"""

from .progression import Programme, dosage_table, load_programme, progression_routine

__all__ = ["Programme", "dosage_table", "load_programme", "progression_routine"]
