"""Period search on all bands of a star at once, and on each band alone.

The multi-band periodogram fits every band with one shared sinusoid and an
offset of its own (VanderPlas & Ivezić 2015, ApJ 812, 18,
doi:10.1088/0004-637X/812/1/18, the model with ``N_base = 1``,
``N_band = 0``):

    m_i = a cos ωt_i + b sin ωt_i + c_{k(i)},  k(i) the band of point i.

Eliminating the offsets leaves, per band ``k`` with weights ``w = σ⁻²``,
``W_k = Σ w``, magnitudes ``y`` centred on the band's weighted mean and sums
``C_k = Σ w cos ωt``, ``S_k = Σ w sin ωt``, ``C2_k = Σ w cos 2ωt``,
``S2_k = Σ w sin 2ωt``, ``YC_k = Σ w y cos ωt``, ``YS_k = Σ w y sin ωt``,
``YY_k = Σ w y²``:

    CC = Σ_k [(W_k + C2_k)/2 − C_k²/W_k]
    SS = Σ_k [(W_k − C2_k)/2 − S_k²/W_k]
    CS = Σ_k [S2_k/2 − C_k S_k / W_k]
    P  = (SS·YC² + CC·YS² − 2 CS·YC·YS) / (YY · (CC·SS − CS²))

with ``YC = Σ_k YC_k`` (and likewise ``YS``, ``YY``): ``P = 1 − χ²(ω)/χ²_0``,
the fraction of the scatter about the band means that the shared sinusoid
explains. With one band this is the generalised Lomb-Scargle periodogram
(Zechmeister & Kürster 2009, A&A 496, 577, doi:10.1051/0004-6361:200811296).
The trigonometric sums of all bands on the whole grid come from two batched
non-uniform FFTs (finufft; Barnett et al. 2019, SIAM J. Sci. Comput. 41,
C479, doi:10.1137/18M120885X); astropy's ``LombScargleMultiband`` computes the
same periodogram and serves as the cross-check (``backend: astropy``).

False-alarm probability of the highest peak: Baluev (2008, MNRAS 385, 1279,
doi:10.1111/j.1365-2966.2008.13022.x, eq. 6 and Table 1, "standard"
normalisation), with ``d_H = K`` parameters under the null hypothesis (the
band offsets) and ``d_K = K + 2`` with the sinusoid; for ``K = 1`` it is
astropy's Baluev FAP. It is computed as a logarithm, so that strong signals,
whose probabilities underflow, can still be ranked.

For each star the multi-band and the best single-band period (the band of
lowest FAP) are found on the same frequency grid, and the one of lower FAP is
chosen.
"""

from __future__ import annotations

import logging
import time as clock
from functools import lru_cache

import finufft
import numpy as np
import pandas as pd
from scipy.special import gammaln

log = logging.getLogger(__name__)

DEFAULT_MULTIBAND_PARAMS = {
    "min_days": 0.1,
    "max_days": 1000.0,
    "oversampling": 5,
    "min_points": 20,
    "backend": "finufft",
    "nufft_tolerance": 1e-9,
    "recovery_tolerance": 0.01,
    "recovery_classes": ["rr_lyrae", "cepheid"],
}
"""Defaults of the ``multiband`` config section (see the config schema)."""

OUTPUT_COLUMNS = [
    "source_id",
    "n_bands",
    "multiband_period",
    "multiband_power",
    "multiband_fap",
    "multiband_log10_fap",
    "single_band_period",
    "single_band_power",
    "single_band_fap",
    "single_band_log10_fap",
    "single_band_band",
    "chosen_period",
    "chosen_fap",
    "chosen_method",
    "reason",
]
"""Columns of the per-shard table written by :func:`multiband_shard`."""


def multiband_params(params: dict | None) -> dict:
    """The ``multiband`` config section with defaults filled in."""
    return {**DEFAULT_MULTIBAND_PARAMS, **(params or {})}


# --------------------------------------------------------------------------- #
# Frequency grid
# --------------------------------------------------------------------------- #
def frequency_grid(baseline: float, params: dict) -> tuple[float, float, int]:
    """``(f_min, df, n)`` of the uniform grid searched, in cycles per day.

    ``f_min = 1 / max_days``, ``f_max = 1 / min_days``,
    ``df = 1 / (oversampling × baseline)``; every periodogram peak (width
    about ``1 / baseline``) is sampled ``oversampling`` times.
    """
    if not baseline > 0:
        raise ValueError(f"the time span must be positive, got {baseline} days")
    f_min = 1.0 / float(params["max_days"])
    f_max = 1.0 / float(params["min_days"])
    df = 1.0 / (float(params["oversampling"]) * baseline)
    return f_min, df, int(np.floor((f_max - f_min) / df)) + 1


# --------------------------------------------------------------------------- #
# Periodogram
# --------------------------------------------------------------------------- #
@lru_cache(maxsize=16)
def _plan(n_modes: int, n_trans: int, tolerance: float) -> finufft.Plan:
    """A reusable type-1 NUFFT plan (``isign = +1``)."""
    return finufft.Plan(
        1, (n_modes,), n_trans=n_trans, eps=tolerance, isign=1, nthreads=1
    )


def trig_sums(
    time: np.ndarray,
    strengths: np.ndarray,
    grid: tuple[float, float, int],
    scale: int,
    tolerance: float,
) -> np.ndarray:
    """``Σ_j c_j exp(2πi · scale · f_k · t_j)`` on the grid, for each row of c.

    ``strengths`` has shape ``(rows, N)``. With ``M`` modes (``n`` rounded up
    to a multiple of 1024), points ``x_j = 2π · scale · df · t_j`` and
    strengths multiplied by ``exp(2πi · scale · (f_min + (M/2) df) t_j)``,
    output mode ``k − M/2`` of a type-1 NUFFT is the sum at ``f_k``.
    """
    f_min, df, n = grid
    n_modes = int(-(-n // 1024) * 1024)
    shift = scale * (f_min + (n_modes // 2) * df)
    phase = 2 * np.pi * np.mod(shift * time, 1.0)
    points = 2 * np.pi * np.mod(scale * df * time, 1.0)
    plan = _plan(n_modes, strengths.shape[0], tolerance)
    plan.setpts(points)
    shifted = np.ascontiguousarray(strengths * np.exp(1j * phase), dtype=np.complex128)
    out = plan.execute(shifted if strengths.shape[0] > 1 else shifted[0])
    return np.atleast_2d(out)[:, :n]


def multiband_power(
    time: np.ndarray,
    mag: np.ndarray,
    mag_err: np.ndarray,
    band_index: np.ndarray,
    grid: tuple[float, float, int],
    tolerance: float = 1e-9,
) -> np.ndarray:
    """Shared-sinusoid multi-band periodogram on ``grid`` (module docstring).

    ``band_index`` numbers the bands ``0 … K − 1``; one band gives the
    generalised Lomb-Scargle periodogram.
    """
    time = time - time.min()
    n_bands = int(band_index.max()) + 1
    member = band_index[None, :] == np.arange(n_bands)[:, None]
    weight = member / mag_err[None, :] ** 2
    total = weight.sum(axis=1)
    centred = mag[None, :] - ((weight * mag).sum(axis=1) / total)[:, None]
    wy = weight * centred

    first = trig_sums(time, np.vstack([weight, wy]), grid, 1, tolerance)
    second = trig_sums(time, weight, grid, 2, tolerance)
    c, s = first[:n_bands].real, first[:n_bands].imag
    yc = first[n_bands:].real.sum(axis=0)
    ys = first[n_bands:].imag.sum(axis=0)
    t = total[:, None]
    cc = ((t + second.real) / 2 - c * c / t).sum(axis=0)
    ss = ((t - second.real) / 2 - s * s / t).sum(axis=0)
    cs = (second.imag / 2 - c * s / t).sum(axis=0)
    yy = (wy * centred).sum()
    determinant = cc * ss - cs * cs
    with np.errstate(divide="ignore", invalid="ignore"):
        power = (ss * yc * yc + cc * ys * ys - 2 * cs * yc * ys) / (yy * determinant)
    # Where every point has the same phase the sinusoid is not determined.
    return np.where(np.isfinite(power), np.clip(power, 0.0, 1.0), 0.0)


def multiband_power_astropy(
    time: np.ndarray,
    mag: np.ndarray,
    mag_err: np.ndarray,
    band_index: np.ndarray,
    grid: tuple[float, float, int],
    tolerance: float = 1e-9,
) -> np.ndarray:
    """The same periodogram from astropy's ``LombScargleMultiband`` (slow).

    One band goes through ``LombScargle`` (floating mean), which the
    multi-band class does not accept.
    """
    from astropy.timeseries import LombScargle, LombScargleMultiband

    f_min, df, n = grid
    frequency = f_min + df * np.arange(n)
    if band_index.max() == 0:
        return LombScargle(time, mag, mag_err).power(frequency, method="cython")
    periodogram = LombScargleMultiband(
        time, mag, band_index, mag_err, nterms_base=1, nterms_band=0
    )
    return periodogram.power(frequency, method="flexible")


BACKENDS = {"finufft": multiband_power, "astropy": multiband_power_astropy}
"""Implementations of the same periodogram, chosen by ``multiband.backend``."""


def log10_baluev_fap(
    power: float, time: np.ndarray, mag_err: np.ndarray, f_max: float, n_bands: int
) -> float:
    """log10 of the Baluev (2008) false-alarm probability of a peak ``power``.

    With ``N`` points, ``N_H = N − K``, ``N_K = N − K − 2``, effective
    baseline ``T = sqrt(4π Var_w(t))`` (weights ``σ⁻²``) and ``W = f_max T``:
    single-frequency ``p = (1 − z)^(N_K/2)``,
    ``τ = γ(N_H) W (1 − z)^((N_K − 1)/2) sqrt(N_H z / 2)`` with
    ``γ(N) = sqrt(2/N) Γ(N/2) / Γ((N − 1)/2)``, and
    ``FAP = 1 − (1 − p) e^(−τ)``, evaluated in logarithms.
    """
    n = time.size
    n_h, n_k = n - n_bands, n - n_bands - 2
    z = float(np.clip(power, 0.0, 1.0 - 1e-16))
    if n_k <= 1 or z <= 0:
        return 0.0
    weight = 1.0 / mag_err**2
    mean = np.sum(weight * time) / weight.sum()
    variance = np.sum(weight * (time - mean) ** 2) / weight.sum()
    bandwidth = f_max * np.sqrt(4 * np.pi * variance)
    log_gamma = 0.5 * np.log(2 / n_h) + gammaln(n_h / 2) - gammaln((n_h - 1) / 2)
    log_tau = (
        log_gamma
        + np.log(bandwidth)
        + 0.5 * (n_k - 1) * np.log1p(-z)
        + 0.5 * np.log(0.5 * n_h * z)
    )
    log_single = 0.5 * n_k * np.log1p(-z)
    tau = np.exp(log_tau)
    if tau < 1e-8:
        # 1 − (1 − p) e^(−τ) = p + τ − pτ + O(τ²): sum the two in logs.
        log_fap = np.logaddexp(log_single, log_tau)
    else:
        log_fap = np.log(-np.expm1(-tau) + np.exp(log_single - tau))
    return float(min(log_fap, 0.0) / np.log(10))


# --------------------------------------------------------------------------- #
# One star
# --------------------------------------------------------------------------- #
def _best_peak(
    time: np.ndarray,
    mag: np.ndarray,
    mag_err: np.ndarray,
    band_index: np.ndarray,
    grid: tuple[float, float, int],
    params: dict,
) -> dict:
    """Period, power and FAP of the highest peak of the periodogram."""
    f_min, df, n = grid
    power = BACKENDS[params["backend"]](
        time, mag, mag_err, band_index, grid, float(params["nufft_tolerance"])
    )
    best = int(np.nanargmax(power))
    log10_fap = log10_baluev_fap(
        power[best], time, mag_err, f_min + df * (n - 1), int(band_index.max()) + 1
    )
    return {
        "period": 1.0 / (f_min + df * best),
        "power": float(power[best]),
        "fap": 10.0**log10_fap,
        "log10_fap": log10_fap,
    }


def usable_bands(lightcurve: pd.DataFrame, min_points: int) -> list[str]:
    """Bands of a star with at least ``min_points`` distinct, finite points."""
    good = lightcurve[np.isfinite(lightcurve[["time", "mag", "mag_err"]]).all(axis=1)]
    good = good[good["mag_err"] > 0]
    counts = good.drop_duplicates(["band", "time"]).groupby("band").size()
    return sorted(counts[counts >= min_points].index)


def multiband_period(lightcurve: pd.DataFrame, params: dict | None = None) -> dict:
    """Multi-band period of one star: all usable bands searched jointly.

    Parameters
    ----------
    lightcurve : pandas.DataFrame
        Tidy rows of one star (``band``, ``time``, ``mag``, ``mag_err``).
    params : dict, optional
        The ``multiband`` config section (:data:`DEFAULT_MULTIBAND_PARAMS`).

    Returns
    -------
    dict
        ``period`` [d], ``power`` (fraction of scatter explained), ``fap`` and
        ``log10_fap``; NaN when no band has ``min_points`` points.
    """
    params = multiband_params(params)
    return _search(lightcurve, params)["multiband"]


def _search(lightcurve: pd.DataFrame, params: dict) -> dict[str, dict]:
    """Multi-band and per-band peaks of one star on one common grid."""
    nothing = {"period": np.nan, "power": np.nan, "fap": np.nan, "log10_fap": np.nan}
    bands = usable_bands(lightcurve, int(params["min_points"]))
    rows = lightcurve[lightcurve["band"].isin(bands)]
    rows = rows[np.isfinite(rows[["time", "mag", "mag_err"]]).all(axis=1)]
    rows = rows[rows["mag_err"] > 0]
    if not bands:
        return {"multiband": nothing}
    time = rows["time"].to_numpy(dtype="float64")
    mag = rows["mag"].to_numpy(dtype="float64")
    mag_err = rows["mag_err"].to_numpy(dtype="float64")
    band_index = pd.Categorical(rows["band"], categories=bands).codes.astype(np.intp)
    grid = frequency_grid(time.max() - time.min(), params)

    found = {"multiband": _best_peak(time, mag, mag_err, band_index, grid, params)}
    for i, band in enumerate(bands):
        one = band_index == i
        found[band] = _best_peak(
            time[one],
            mag[one],
            mag_err[one],
            np.zeros(one.sum(), np.intp),
            grid,
            params,
        )
    return found


def compare_star(lightcurve: pd.DataFrame, params: dict) -> dict:
    """One output row: multi-band, best single band, and the one chosen.

    The single-band result is the band whose peak has the lowest FAP. The
    multi-band period is chosen when its FAP is lower, or equal; with one
    usable band the two coincide and the single band is reported.
    """
    found = _search(lightcurve, params)
    multi = found.pop("multiband")
    row = {"n_bands": len(found)}
    row.update({f"multiband_{k}": v for k, v in multi.items()})
    if not found:
        row.update(chosen_method="", single_band_band="")
        row["reason"] = f"no band with {params['min_points']} points"
        return row
    band, single = min(found.items(), key=lambda item: item[1]["log10_fap"])
    row.update({f"single_band_{k}": v for k, v in single.items()})
    row["single_band_band"] = band
    multiband_wins = len(found) > 1 and multi["log10_fap"] <= single["log10_fap"]
    chosen = multi if multiband_wins else single
    row.update(
        chosen_period=chosen["period"],
        chosen_fap=chosen["fap"],
        chosen_method="multiband" if multiband_wins else "single_band",
        reason="",
    )
    return row


def multiband_shard(
    lightcurves: pd.DataFrame, params: dict | None = None
) -> pd.DataFrame:
    """:func:`compare_star` for every star of a shard (rows with ``flags == 0``).

    A star whose search fails gets NaN and the error in ``reason``; the shard
    goes on.
    """
    started = clock.perf_counter()
    params = multiband_params(params)
    good = lightcurves[lightcurves["flags"] == 0]
    rows = []
    for source_id, star in good.groupby("source_id", sort=False):
        try:
            row = compare_star(star, params)
        except (ValueError, FloatingPointError, np.linalg.LinAlgError) as error:
            log.warning("star %s: period search failed: %s", source_id, error)
            row = {"chosen_method": "", "single_band_band": "", "reason": str(error)}
        rows.append({"source_id": str(source_id), **row})
    table = pd.DataFrame(rows).reindex(columns=OUTPUT_COLUMNS)
    for column in ("chosen_method", "single_band_band", "reason"):
        table[column] = table[column].fillna("").astype(str)
    table["n_bands"] = table["n_bands"].fillna(0).astype("int64")
    log.info(
        "multiband: %d stars, %d chose the multi-band period, %d without a period, "
        "%.1f s",
        len(table),
        int((table["chosen_method"] == "multiband").sum()),
        int((table["reason"] != "").sum()),
        clock.perf_counter() - started,
    )
    return table


# --------------------------------------------------------------------------- #
# Period recovery against reference periods
# --------------------------------------------------------------------------- #
def period_recovery(
    periods: pd.DataFrame, labels: pd.DataFrame, params: dict | None = None
) -> pd.DataFrame:
    """Fraction of stars whose period is within a tolerance of the reference.

    A period ``P`` matches the reference ``P_ref`` when
    ``|P − P_ref| ≤ recovery_tolerance × P_ref``. One row per class of
    ``recovery_classes`` and one for them together (``all``), with the number
    of stars with a reference period (``n``) and the fraction matched by the
    single-band, multi-band and chosen periods; a star without a period
    counts as a miss.
    """
    params = multiband_params(params)
    tolerance = float(params["recovery_tolerance"])
    classes = list(params["recovery_classes"])
    table = labels[labels["class_name"].isin(classes)]
    table = table[np.isfinite(table["reference_period"].astype(float))]
    table = table[["source_id", "class_name", "reference_period"]].merge(
        periods, on="source_id", how="left"
    )
    reference = table["reference_period"].to_numpy(dtype="float64")
    methods = {"single_band": "single_band_period", "multiband": "multiband_period"}
    methods["chosen"] = "chosen_period"
    for method, column in methods.items():
        found = table[column].to_numpy(dtype="float64")
        table[method] = np.abs(found - reference) <= tolerance * reference

    groups = [(name, table[table["class_name"] == name]) for name in classes]
    groups.append(("all", table))
    result = pd.DataFrame(
        [
            {
                "class_name": name,
                "n": len(part),
                **{
                    f"{m}_fraction": part[m].mean() if len(part) else np.nan
                    for m in methods
                },
                "multiband_chosen_fraction": (
                    (part["chosen_method"] == "multiband").mean()
                    if len(part)
                    else np.nan
                ),
            }
            for name, part in groups
        ]
    )
    result["gain"] = result["multiband_fraction"] - result["single_band_fraction"]
    result["tolerance"] = tolerance
    return result
