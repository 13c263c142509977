"""Survey-appropriate quality cuts on the tidy light-curve table.

Each observation is dropped for the first of these reasons that applies, in
this order, and counted under it per star and band:

``non_detection``, ``high_psf_chi``, ``high_astrometric_chisq``
    the reader set this bit of ``flags`` (:data:`FLAG_BITS`): a survey's own
    per-epoch quality cut on a column the tidy table does not keep (VIRAC2's
    ``detected``, PSF-fit ``chi`` and ``ast_res_chisq``, see
    :mod:`varsky.surveys`). The lowest set bit names the reason.
``flagged_other``
    any other bit of ``flags`` set.
``non_finite``
    time, magnitude or error is NaN or infinite.
``placeholder``
    magnitude at or above ``placeholder_mag_min`` (EROS-1 writes 25.0, and a
    few 24.9x, where no measurement exists).
``bad_error``
    error zero or negative.
``large_error``
    error above ``max_mag_err``.
``error_clipped``
    error more than ``error_clip`` standard deviations above the band's
    median error (a clip on the errors, e.g. 4 for VVV light curves after
    Medina et al. 2018, doi:10.3847/1538-4357/aad664, and Molnar et al. 2022,
    doi:10.1051/0004-6361/202142398); null disables it.
``repeated_time``
    a second observation at the same time in the same band; the one with the
    smallest error is kept.
``clipped``
    more than ``sigma_clip`` standard deviations from the band's median, for
    ``clip_iterations`` passes. The standard deviation, not the median
    absolute deviation, sets the scale: a MAD-based clip would remove the
    eclipses of detached binaries, whose out-of-eclipse points dominate the
    MAD.

A band left with fewer than ``min_points`` observations (or, for a band named
in ``band_min_points``, fewer than its own minimum) is removed from the star
and listed with the reason. A star that has lost a band named in
``required_bands`` loses all its bands, listed with the reason; a star with no
band left is thereby rejected.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

KEYS = ["source_id", "band"]

#: Bits of the tidy ``flags`` column, set by survey readers: name -> bit value.
FLAG_BITS = {
    "non_detection": 1,
    "high_psf_chi": 2,
    "high_astrometric_chisq": 4,
}
REASONS = [
    *FLAG_BITS,
    "flagged_other",
    "non_finite",
    "placeholder",
    "bad_error",
    "large_error",
    "error_clipped",
    "repeated_time",
    "clipped",
]


@dataclass(frozen=True)
class CleanParams:
    """Thresholds of the quality cuts (the ``clean`` section of the config)."""

    placeholder_mag_min: float = 24.9
    max_mag_err: float = 1.0
    sigma_clip: float | None = 5.0
    clip_iterations: int = 1
    min_points: int = 20
    error_clip: float | None = None
    band_min_points: dict[str, int] = field(default_factory=dict)
    required_bands: tuple[str, ...] = ()

    @classmethod
    def from_config(cls, section: dict) -> CleanParams:
        section = dict(section)
        section["band_min_points"] = dict(section.get("band_min_points") or {})
        section["required_bands"] = tuple(section.get("required_bands") or ())
        return cls(**section)

    def min_points_of(self, band: str) -> int:
        """The fewest observations a band may keep."""
        return int(self.band_min_points.get(band, self.min_points))


def merged_params(global_section: dict, dataset_section: dict | None) -> dict:
    """The global ``clean`` settings with a dataset's own ``clean`` over them."""
    return {**global_section, **(dataset_section or {})}


def _flag_reasons(flags: np.ndarray) -> np.ndarray:
    """The reason named by the lowest set bit of each ``flags``, '' if none."""
    reason = np.full(flags.size, "", dtype=object)
    for name, bit in FLAG_BITS.items():
        reason[(reason == "") & ((flags & bit) != 0)] = name
    reason[(reason == "") & (flags != 0)] = "flagged_other"
    return reason


def _point_cuts(lc: pd.DataFrame, params: CleanParams) -> pd.Series:
    """First per-point reason to drop each observation, '' to keep it."""
    finite = np.isfinite(lc[["time", "mag", "mag_err"]].to_numpy()).all(axis=1)
    reason = _flag_reasons(lc["flags"].to_numpy(dtype="int64"))
    tests = [
        ("non_finite", ~finite),
        ("placeholder", lc["mag"].to_numpy() >= params.placeholder_mag_min),
        ("bad_error", lc["mag_err"].to_numpy() <= 0),
        ("large_error", lc["mag_err"].to_numpy() > params.max_mag_err),
    ]
    for name, failed in tests:
        reason[(reason == "") & failed] = name
    return pd.Series(reason, index=lc.index)


def _error_outliers(lc: pd.DataFrame, nsigma: float) -> pd.Series:
    """True for errors more than ``nsigma`` standard deviations above the median.

    Median and standard deviation are those of the band's errors (one pass).
    """
    groups = lc.groupby(KEYS, sort=False)["mag_err"]
    centre = groups.transform("median")
    scale = groups.transform("std").fillna(0.0)
    return (lc["mag_err"] - centre) > nsigma * scale


def _repeated_times(lc: pd.DataFrame) -> pd.Series:
    """True for every observation but the smallest-error one at a shared time."""
    order = lc.sort_values([*KEYS, "time", "mag_err"], kind="stable")
    repeated = order.duplicated(subset=[*KEYS, "time"], keep="first")
    return repeated.reindex(lc.index)


def _clip_outliers(lc: pd.DataFrame, nsigma: float, iterations: int) -> pd.Series:
    """True for observations beyond ``nsigma`` standard deviations of the median."""
    clipped = pd.Series(False, index=lc.index)
    for _ in range(iterations):
        kept = lc.loc[~clipped]
        groups = kept.groupby(KEYS, sort=False)["mag"]
        centre = groups.transform("median")
        scale = groups.transform("std")
        outlier = (kept["mag"] - centre).abs() > nsigma * scale
        if not outlier.any():
            break
        clipped.loc[outlier[outlier].index] = True
    return clipped


def clean_lightcurves(
    lc: pd.DataFrame, params: CleanParams
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Apply the quality cuts to a tidy table.

    Returns
    -------
    cleaned : pandas.DataFrame
        The kept observations, tidy columns, sorted by star, band and time.
    report : pandas.DataFrame
        One row per star and band: ``n_read``, one ``n_<reason>`` column per
        cut, ``n_kept``, and ``reason`` (empty when the band is kept, else why
        it was removed).
    """
    lc = lc.reset_index(drop=True)
    reason = _point_cuts(lc, params)

    alive = reason == ""
    if params.error_clip:
        outlier = _error_outliers(lc.loc[alive], params.error_clip)
        reason.loc[outlier[outlier].index] = "error_clipped"

    alive = reason == ""
    repeated = _repeated_times(lc.loc[alive])
    reason.loc[repeated[repeated].index] = "repeated_time"

    alive = reason == ""
    if params.sigma_clip:
        clipped = _clip_outliers(
            lc.loc[alive], params.sigma_clip, params.clip_iterations
        )
        reason.loc[clipped[clipped].index] = "clipped"

    report = _count_reasons(lc, reason)
    minimum = report["band"].map(params.min_points_of)
    too_few = report["n_kept"] < minimum
    report["reason"] = ""
    report.loc[too_few, "reason"] = [
        f"too few points: {n} left < min_points {m}"
        for n, m in zip(report.loc[too_few, "n_kept"], minimum[too_few], strict=True)
    ]
    too_few |= _lost_required_band(report, too_few, params.required_bands)

    removed_bands = report.loc[too_few, KEYS]
    keep = (reason == "").to_numpy()
    cleaned = lc.loc[keep]
    if len(removed_bands):
        drop = pd.MultiIndex.from_frame(removed_bands)
        in_removed = pd.MultiIndex.from_frame(cleaned[KEYS]).isin(drop)
        cleaned = cleaned.loc[~in_removed]
    cleaned = cleaned.sort_values([*KEYS, "time"], kind="stable").reset_index(drop=True)

    log.info(
        "cleaned %d observations of %d stars: kept %d, dropped %s; "
        "%d bands removed for too few points",
        len(lc),
        lc["source_id"].nunique(),
        len(cleaned),
        ", ".join(f"{r}: {int(report[f'n_{r}'].sum())}" for r in REASONS),
        int(too_few.sum()),
    )
    return cleaned, report


def _lost_required_band(
    report: pd.DataFrame, removed: pd.Series, required: tuple[str, ...]
) -> pd.Series:
    """Mark every band of a star that has lost (or never had) a required band."""
    lost = pd.Series(False, index=report.index)
    for band in required:
        kept_band = report["band"].eq(band) & ~removed
        has_band = kept_band.groupby(report["source_id"]).transform("any")
        newly = ~has_band & ~removed & ~lost
        report.loc[newly, "reason"] = f"required band {band} removed or absent"
        lost |= ~has_band
    return lost


def _count_reasons(lc: pd.DataFrame, reason: pd.Series) -> pd.DataFrame:
    """Count the observations read, dropped per reason and kept, per star and band."""
    flags = pd.DataFrame({f"n_{r}": (reason == r).to_numpy() for r in REASONS})
    flags["n_kept"] = (reason == "").to_numpy()
    flags["n_read"] = True
    flags[KEYS] = lc[KEYS].to_numpy()
    counts = flags.groupby(KEYS, sort=True).sum().astype("int64").reset_index()
    ordered = KEYS + ["n_read"] + [f"n_{r}" for r in REASONS] + ["n_kept"]
    return counts[ordered]


def rejected_stars(
    report: pd.DataFrame, all_stars: pd.Series, read_errors: pd.Series | None = None
) -> pd.DataFrame:
    """Stars and bands removed by the cleaning, with the reason.

    A star with every band removed appears once per band; a star absent from
    the report altogether (no observations at all) is listed with band ``*``
    and, when ``read_errors`` (indexed by star) has one, why its file could
    not be read.
    """
    removed = report.loc[report["reason"] != "", [*KEYS, "n_read", "n_kept", "reason"]]
    absent = sorted(set(all_stars) - set(report["source_id"]))
    if absent:
        empty = pd.DataFrame(
            {
                "source_id": absent,
                "band": "*",
                "n_read": 0,
                "n_kept": 0,
                "reason": "no observations",
            }
        )
        if read_errors is not None:
            why = empty["source_id"].map(read_errors).fillna("").astype(str)
            empty["reason"] = empty["reason"].where(why == "", "not read: " + why)
        removed = pd.concat([removed, empty], ignore_index=True)
    return removed.reset_index(drop=True)
