"""The Sentinel-2 date tables, one row per solar date, and their one reader and writer.

* ``s2/dates.csv`` (the search checkpoint, :data:`DATES_COLUMNS`): the date's items, MGRS
  tiles, EPSG codes, cloud cover, processing baselines and the scale/offset labels of the
  items' metadata. It is written before any pixel is read, and the per-date jobs fan out from
  it, so it never changes after them;
* ``s2/dates/{date}/summary.csv`` (a per-date job, :data:`SUMMARY_COLUMNS`): the valid fraction
  of the area and the scaling columns (:data:`SCALING_COLUMNS`): ``negative_share`` (the
  largest share of an item's valid land pixels below zero in any band read),
  ``scaling_flag`` (``true`` when an item's scaling is doubtful: see
  :mod:`aopflow.sentinel2.scaling`), ``scaling_note`` (why) and ``scale_offset_applied`` (per
  item, the scale/offset used under ``sentinel2.offset``);
* ``s2/date_summary.csv`` (:data:`DATE_SUMMARY_COLUMNS`, the ``s2_summary`` job): each row of
  dates.csv plus what the date's summary.csv says (``valid_fraction`` and the scaling
  columns) and ``used`` (``true`` when at least ``sentinel2.min_valid_fraction``); read,
  validated and typed by :func:`read_date_summary` for the products and figures.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
import re
from collections.abc import Sequence
from pathlib import Path

from aopflow.errors import InputDataError
from aopflow.io import atomic_path

DATES_COLUMNS = ["date", "item_ids", "mgrs_tiles", "epsgs", "cloud_cover", "processing_baselines",
                 "scale_offset"]
SCALING_COLUMNS = ["negative_share", "scaling_flag", "scaling_note", "scale_offset_applied"]
SUMMARY_COLUMNS = ["date", "valid_fraction", "n_valid", "n_area_pixels", *SCALING_COLUMNS]
DATE_SUMMARY_COLUMNS = [*DATES_COLUMNS, "valid_fraction", "used", *SCALING_COLUMNS]

_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no"}


def parse_date(text: str, where: str) -> dt.date:
    """``YYYY-MM-DD`` -> date, or InputDataError naming ``where``."""
    try:
        if not _DATE_RE.match(str(text)):
            raise ValueError(text)
        return dt.date.fromisoformat(str(text))
    except ValueError:
        raise InputDataError(
            f"{where}: {text!r} is not a date YYYY-MM-DD (Sentinel-2 dates are solar dates at "
            f"the site, e.g. 2024-06-15)."
        ) from None


def _flag(value, where: str) -> bool:
    text = str(value).strip().lower()
    if text not in _TRUE | _FALSE:
        raise InputDataError(f"{where} is {value!r}; expected True or False.")
    return text in _TRUE


def read_date_summary(path: str | os.PathLike) -> list[dict]:
    """Rows of ``s2/date_summary.csv``: ``date`` (str), ``valid_fraction`` (float), ``used``
    (bool), ``scaling_flag`` (bool; False when the column is absent, as in tables written
    by hand), sorted by date; other columns as text.

    Raises:
        InputDataError: missing file or columns, a bad date or ``used`` value, a repeated date.
    """
    path = Path(path)
    if not path.exists():
        raise InputDataError(f"{path}: date summary does not exist (made by the Sentinel-2 stage).")
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        missing = {"date", "valid_fraction", "used"} - set(reader.fieldnames or ())
        if missing:
            raise InputDataError(
                f"{path}: columns {sorted(missing)} are missing (found {reader.fieldnames}); "
                f"the Sentinel-2 stage writes date, valid_fraction and used. Delete the file "
                f"and run again."
            )
        rows = list(reader)
    seen = set()
    for i, row in enumerate(rows, start=2):
        parse_date(row["date"], f"{path} line {i}, column date")
        if row["date"] in seen:
            raise InputDataError(f"{path} line {i}: date {row['date']} appears twice.")
        seen.add(row["date"])
        row["used"] = _flag(row["used"], f"{path} line {i}: used")
        row["scaling_flag"] = _flag(row.get("scaling_flag") or "false", f"{path} line {i}: scaling_flag")
        try:
            row["valid_fraction"] = float(row["valid_fraction"])
        except ValueError:
            raise InputDataError(
                f"{path} line {i}: valid_fraction {row['valid_fraction']!r} is not a number."
            ) from None
    return sorted(rows, key=lambda r: r["date"])


def write_dates_csv(rows: Sequence[dict], path, columns: Sequence[str] = DATES_COLUMNS) -> Path:
    """Atomically write a date table (``dates.csv``, ``date_summary.csv``, a date's
    ``summary.csv``): one row per date, the ``columns`` in order."""
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(columns))
            w.writeheader()
            w.writerows(rows)
    return Path(path)


def read_dates_csv(path) -> list[dict]:
    """The rows of a date table written by :func:`write_dates_csv`, as text."""
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def read_summary_csv(path) -> list[dict]:
    """The row(s) of a per-date ``summary.csv``, as text, with every :data:`SUMMARY_COLUMNS`.

    Raises:
        InputDataError: a column is missing (a summary written by an older aopflow).
    """
    rows = read_dates_csv(path)
    missing = [c for c in SUMMARY_COLUMNS if rows and c not in rows[0]]
    if missing:
        raise InputDataError(
            f"{path}: columns {missing} are missing (the per-date job writes {SUMMARY_COLUMNS}); "
            f"it was made by an older aopflow: delete it and run again.")
    return rows
