import numpy as np
import pandas as pd
import pytest

from varsky.clean import CleanParams, clean_lightcurves, rejected_stars


def star(source_id, band, mags, errs=None, times=None):
    n = len(mags)
    return pd.DataFrame(
        {
            "source_id": source_id,
            "band": band,
            "time": np.arange(n, dtype=float) if times is None else times,
            "mag": mags,
            "mag_err": np.full(n, 0.05) if errs is None else errs,
            "flags": 0,
        }
    )


def test_each_cut_is_counted_under_its_reason():
    mags = [15.0] * 60
    errs = [0.05] * 60
    times = list(np.arange(60.0))
    mags[0] = np.nan  # non_finite
    mags[1] = 25.0  # placeholder
    mags[2] = 24.95  # placeholder
    errs[3] = 0.0  # bad_error
    errs[4] = -0.1  # bad_error
    errs[5] = 1.5  # large_error
    times[7] = times[6]  # repeated_time: keeps the smaller error
    errs[7] = 0.01
    mags[10] = 18.0  # clipped: about 7 standard deviations out
    lc = star("a", "R", mags, errs, times)

    cleaned, report = clean_lightcurves(lc, CleanParams(min_points=10))
    row = report.iloc[0]
    assert row["n_read"] == 60
    assert row["n_non_finite"] == 1
    assert row["n_placeholder"] == 2
    assert row["n_bad_error"] == 2
    assert row["n_large_error"] == 1
    assert row["n_repeated_time"] == 1
    assert row["n_clipped"] == 1
    assert row["n_kept"] == 52 == len(cleaned)
    assert row["reason"] == ""
    kept_at_six = cleaned.loc[cleaned["time"] == 6.0, "mag_err"]
    assert kept_at_six.tolist() == [0.01]
    assert 18.0 not in cleaned["mag"].to_numpy()


def test_short_band_is_removed_and_listed():
    lc = pd.concat([star("a", "B", [15.0] * 25), star("a", "R", [15.0] * 12)])
    cleaned, report = clean_lightcurves(lc, CleanParams(min_points=20))
    assert set(cleaned["band"]) == {"B"}
    rejected = rejected_stars(report, pd.Series(["a", "b"]))
    assert rejected[["source_id", "band", "n_kept"]].values.tolist() == [
        ["a", "R", 12],
        ["b", "*", 0],
    ]
    assert "12 left < min_points 20" in rejected.loc[0, "reason"]


def test_eclipses_survive_the_clip():
    # A detached binary: 90 points at maximum light, 10 in a 0.8 mag eclipse.
    rng = np.random.default_rng(0)
    mags = 16.0 + rng.normal(0, 0.02, 100)
    mags[::10] += 0.8
    cleaned, report = clean_lightcurves(star("eb", "R", mags), CleanParams())
    assert report.loc[0, "n_clipped"] == 0
    assert len(cleaned) == 100


def test_clip_disabled():
    mags = [15.0] * 29 + [30.0 - 10]
    _, report = clean_lightcurves(star("a", "R", mags), CleanParams(sigma_clip=None))
    assert report.loc[0, "n_clipped"] == 0


@pytest.mark.parametrize("iterations, expected", [(1, 1), (3, 2)])
def test_clip_iterations(iterations, expected):
    mags = [15.0, 15.1] * 20 + [16.0, 25.0 - 5]
    params = CleanParams(sigma_clip=3.0, clip_iterations=iterations)
    _, report = clean_lightcurves(star("a", "R", mags), params)
    assert report.loc[0, "n_clipped"] == expected
