"""VIRAC2 and Catalina readers, their quality cuts and the multi-band summary."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits

from varsky import io
from varsky.clean import FLAG_BITS, CleanParams, clean_lightcurves, rejected_stars
from varsky.ingest import ingest
from varsky.surveys import (
    VIRAC2_QUALITY,
    multiband_summary,
    read_crts,
    read_virac2,
    read_virac2_csv,
    read_virac2_fits,
    survey_feature_table,
)

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
VIRAC2 = DATA / "virac2"
CRTS = DATA / "crts"
STAR = "9331790006590"  # light_curves/933/179/9331790006590.csv
CRTS_SPEC = {
    "bands": ["V"],
    "class_from_filename": True,
    "class_names": {
        "rr_lyrae": "rr_lyrae",
        "w_uma": "eclipsing_binary",
        "delta_scuti": "delta_scuti",
    },
}
VIRAC2_CLEAN = {
    "placeholder_mag_min": 24.9,
    "max_mag_err": 0.2,
    "sigma_clip": None,
    "clip_iterations": 1,
    "min_points": 1,
    "error_clip": 4.0,
    "band_min_points": {"Ks": 40},
    "required_bands": ["Ks"],
}


@pytest.fixture(scope="module")
def virac2_dir() -> Path:
    if not (VIRAC2 / "reclass.fits").exists():
        pytest.skip(f"the VIRAC2 sample is not at {VIRAC2}")
    return VIRAC2


@pytest.fixture(scope="module")
def crts_dir() -> Path:
    if not any(CRTS.glob("*.csv")):
        pytest.skip(f"the Catalina sample is not at {CRTS}")
    return CRTS


def star_csv(virac2_dir: Path) -> Path:
    return virac2_dir / "light_curves" / STAR[:3] / STAR[3:6] / f"{STAR}.csv"


def test_virac2_csv_takes_each_rows_band_and_flags_the_cuts(virac2_dir):
    rows = read_virac2_csv(star_csv(virac2_dir), VIRAC2_QUALITY)

    assert len(rows) == 182  # 183 lines with the header
    first, second = rows.iloc[0], rows.iloc[1]
    assert (first["band"], first["time"], first["mag"], first["mag_err"]) == (
        "H",
        55308.31977,
        15.1001,
        0.0157,
    )
    assert (second["band"], second["mag"], second["mag_err"]) == ("Ks", 14.9891, 0.0213)
    # One non-detection (J), three epochs with ast_res_chisq >= 20, no chi >= 10.
    assert (rows["flags"] == FLAG_BITS["non_detection"]).sum() == 1
    assert (rows["flags"] == FLAG_BITS["high_astrometric_chisq"]).sum() == 3
    assert (rows["flags"] & FLAG_BITS["high_psf_chi"]).sum() == 0
    assert ((rows["band"] == "Ks") & (rows["flags"] == 0)).sum() == 162


def test_virac2_fits_table_gives_the_same_rows_as_the_csv_tree(virac2_dir):
    from_fits, errors, order = read_virac2_fits(
        virac2_dir / "reclass_LC.fits", VIRAC2_QUALITY
    )
    from_csv, _ = read_virac2(virac2_dir, {}, {"lightcurves": "light_curves"})

    assert errors == {}
    assert sorted(order) == sorted(from_csv["source_id"].unique())
    pd.testing.assert_frame_equal(io.to_tidy(from_fits), io.to_tidy(from_csv))


def test_virac2_positions_come_from_the_positions_table(virac2_dir):
    _, labels = read_virac2(
        virac2_dir, {}, {"lightcurves": "light_curves", "positions": "reclass.fits"}
    )
    with fits.open(virac2_dir / "reclass.fits") as hdus:
        table = hdus[1].data
        row = table[table["sourceid"] == int(STAR)][0]
    star = labels.set_index("source_id").loc[STAR]

    assert star["ra"] == pytest.approx(row["ra"])
    assert star["gal_l"] == pytest.approx(4.504724683957982)
    assert star["gal_b"] == pytest.approx(-8.03133903354774)
    assert labels["class_name"].isna().all()
    assert set(labels["split"]) == {"unlabelled"}


def test_virac2_literature_cuts_count_what_each_removed(virac2_dir):
    rows = read_virac2_csv(star_csv(virac2_dir), VIRAC2_QUALITY)
    _, report = clean_lightcurves(
        io.to_tidy(rows), CleanParams.from_config(VIRAC2_CLEAN)
    )
    ks = report.set_index("band").loc["Ks"]

    assert ks["n_read"] == 163
    assert ks["n_high_astrometric_chisq"] == 1
    assert ks["n_non_detection"] == 0
    assert (
        ks["n_kept"] + ks[[f"n_{r}" for r in ("large_error", "error_clipped")]].sum()
        == 162
    )
    assert report.set_index("band").loc["J", "n_non_detection"] == 1


def test_a_star_without_forty_good_ks_epochs_is_rejected_whole():
    time = np.arange(45, dtype=float)
    lc = io.to_tidy(
        pd.DataFrame(
            {
                "source_id": ["a"] * 45 + ["a"] * 5,
                "band": ["Ks"] * 45 + ["J"] * 5,
                "time": np.concatenate([time, time[:5]]),
                "mag": 14.0 + 0.01 * np.sin(np.arange(50)),
                "mag_err": 0.02,
                # Six Ks epochs flagged for chi: 39 left, one short of 40.
                "flags": [FLAG_BITS["high_psf_chi"]] * 6 + [0] * 44,
            }
        )
    )
    cleaned, report = clean_lightcurves(lc, CleanParams.from_config(VIRAC2_CLEAN))

    assert cleaned.empty
    by_band = report.set_index("band")
    assert by_band.loc["Ks", "n_high_psf_chi"] == 6
    assert by_band.loc["Ks", "reason"] == "too few points: 39 left < min_points 40"
    assert by_band.loc["J", "reason"] == "required band Ks removed or absent"


def test_error_clip_drops_only_errors_far_above_the_median():
    errors = np.full(30, 0.02)
    errors[:29] += np.linspace(-0.005, 0.005, 29)
    errors[29] = 0.15  # an error far above the others
    lc = io.to_tidy(
        pd.DataFrame(
            {
                "source_id": "s",
                "band": "Ks",
                "time": np.arange(30.0),
                "mag": 15.0,
                "mag_err": errors,
                "flags": 0,
            }
        )
    )
    params = CleanParams.from_config({**VIRAC2_CLEAN, "band_min_points": {}})
    _, report = clean_lightcurves(lc, params)
    # median 0.02025.., std ~0.0237: 0.15 lies 5.5 std above, the rest below 1.
    assert report.loc[0, "n_error_clipped"] == 1


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("mjd,ks_mag\n55000.1,14.2\n", "missing columns"),
        ("", "empty file"),
    ],
)
def test_a_bad_virac2_csv_fails_that_source_only(
    tmp_path, virac2_dir, content, expected
):
    tree = tmp_path / "light_curves"
    good = tree / STAR[:3] / STAR[3:6] / f"{STAR}.csv"
    good.parent.mkdir(parents=True)
    good.write_bytes(star_csv(virac2_dir).read_bytes())
    (tree / "bad.csv").write_text(content)

    lightcurves, labels = read_virac2(tmp_path, {}, {"lightcurves": "light_curves"})

    errors = labels.set_index("source_id")["read_error"]
    assert expected in errors["bad"] and "bad.csv" in errors["bad"]
    assert errors[STAR] == ""
    assert set(lightcurves["source_id"]) == {STAR}


def test_a_band_outside_virac2_names_the_file_and_line(tmp_path, virac2_dir):
    lines = star_csv(virac2_dir).read_text().splitlines()
    lines[4] = lines[4].rsplit(",", 1)[0] + ",K"  # line 5 of the file
    bad = tmp_path / "123.csv"
    bad.write_text("\n".join(lines) + "\n")

    with pytest.raises(io.InputError, match=r"123\.csv, line 5: filter 'K'"):
        read_virac2_csv(bad, VIRAC2_QUALITY)


def test_a_fits_file_without_a_table_is_refused_by_name(tmp_path):
    image = tmp_path / "image.fits"
    fits.PrimaryHDU(np.zeros((4, 4))).writeto(image)

    with pytest.raises(io.InputError, match=r"image\.fits: no table extension"):
        read_virac2_fits(image, VIRAC2_QUALITY)


def test_crts_classes_come_from_the_file_names(crts_dir):
    lightcurves, labels = read_crts(crts_dir, {}, CRTS_SPEC)
    counts = labels["class_name"].value_counts().to_dict()

    assert counts == {"rr_lyrae": 16, "eclipsing_binary": 8, "delta_scuti": 6}
    first = pd.read_csv(crts_dir / "rr_lyrae_1001004012176.csv").iloc[0]
    star = lightcurves[lightcurves["source_id"] == "1001004012176"].iloc[0]
    assert (star["band"], star["time"], star["mag"]) == (
        "V",
        first["MJD"],
        first["Mag"],
    )
    assert star["mag_err"] == first["Magerr"]


def test_a_crts_file_with_a_missing_column_fails_alone(tmp_path, crts_dir):
    good = crts_dir / "w_uma_1001005029084.csv"
    (tmp_path / good.name).write_bytes(good.read_bytes())
    table = pd.read_csv(good).drop(columns=["Magerr"])
    table.to_csv(tmp_path / "rr_lyrae_42.csv", index=False)

    lightcurves, labels = read_crts(tmp_path, {}, CRTS_SPEC)

    bad = labels.set_index("source_id").loc["rr_lyrae_42"]
    assert "rr_lyrae_42.csv: missing columns ['Magerr']" in bad["read_error"]
    assert bad["split"] == "unlabelled"
    assert set(lightcurves["source_id"]) == {"1001005029084"}


def test_crts_ingest_holds_out_a_stratified_test_split(tmp_path, crts_dir):
    labels = ingest(
        crts_dir,
        {},
        {**CRTS_SPEC, "format": "crts"},
        tmp_path / "shards",
        tmp_path / "labels.parquet",
        shard_size=10,
        holdout_fraction=0.2,
        seed=1,
    )
    test = labels[labels["split"] == "test"]["class_name"].value_counts().to_dict()

    assert test == {"rr_lyrae": 3, "eclipsing_binary": 2, "delta_scuti": 1}
    assert len(list((tmp_path / "shards").glob("shard-*.parquet"))) == 3


def test_multiband_summary_takes_every_band_however_sparse():
    lc = io.to_tidy(
        pd.DataFrame(
            {
                "source_id": ["a"] * 5 + ["b"] * 2,
                "band": ["J", "J", "Ks", "Ks", "Ks", "Ks", "Ks"],
                "time": [1.0, 2.0, 1.0, 2.0, 3.0, 1.0, 2.0],
                "mag": [15.0, 15.4, 13.0, 13.2, 14.0, 12.0, 12.5],
                "mag_err": 0.01,
                "flags": [0, 0, 0, 0, FLAG_BITS["high_psf_chi"], 0, 0],
            }
        )
    )
    labels = pd.DataFrame(
        {"source_id": ["a", "b"], "gal_l": [10.0, 20.0], "gal_b": [-1.0, 2.0]}
    )
    summary = multiband_summary(lc, ["J", "H", "Ks"], labels).set_index("source_id")

    assert summary.loc["a", "median_J"] == pytest.approx(15.2)
    assert summary.loc["a", "median_Ks"] == pytest.approx(13.1)  # flagged 14.0 left out
    assert summary.loc["a", "n_epochs_Ks"] == 2
    assert summary.loc["b", "n_epochs_J"] == 0
    assert np.isnan(summary.loc["b", "median_J"])
    assert np.isnan(summary.loc["a", "color_J_H"])  # no H epoch
    assert summary.loc["b", "gal_b"] == 2.0

    features = pd.DataFrame(
        {"source_id": ["a", "b"], "median_J": [np.nan, np.nan], "reason": ["", ""]}
    )
    table = survey_feature_table(features, summary.reset_index()).set_index("source_id")
    assert table.loc["a", "median_J"] == pytest.approx(15.2)
    assert "median_J__s" not in table


def test_a_bad_band_in_the_fits_table_fails_that_source_only(tmp_path, virac2_dir):
    with fits.open(virac2_dir / "reclass_LC.fits") as hdus:
        table = hdus[1].data.copy()
        header = hdus[1].header
    table["filter"][0] = "K"
    broken = str(table["source_id"][0])
    path = tmp_path / "lc.fits"
    fits.BinTableHDU(table, header).writeto(path)

    lightcurves, errors, order = read_virac2_fits(path, VIRAC2_QUALITY)

    assert list(errors) == [broken]
    assert "lc.fits, source" in errors[broken] and "table row 1" in errors[broken]
    assert broken not in set(lightcurves["source_id"])
    assert lightcurves["source_id"].nunique() == len(order) - 1


def test_a_source_that_could_not_be_read_is_listed_with_why(tmp_path, virac2_dir):
    tree = tmp_path / "light_curves"
    good = tree / STAR[:3] / STAR[3:6] / f"{STAR}.csv"
    good.parent.mkdir(parents=True)
    good.write_bytes(star_csv(virac2_dir).read_bytes())
    (tree / "777.csv").write_text("")
    lightcurves, labels = read_virac2(tmp_path, {}, {"lightcurves": "light_curves"})
    _, report = clean_lightcurves(
        io.to_tidy(lightcurves), CleanParams.from_config(VIRAC2_CLEAN)
    )

    rejected = rejected_stars(
        report, labels["source_id"], labels.set_index("source_id")["read_error"]
    )

    (row,) = rejected.itertuples()
    assert (row.source_id, row.band) == ("777", "*")
    assert row.reason.startswith("not read: ") and "777.csv: empty file" in row.reason


def test_a_positions_csv_may_carry_gaia_ids_and_gives_galactic_coordinates(
    tmp_path, virac2_dir
):
    tree = tmp_path / "light_curves"
    good = tree / STAR[:3] / STAR[3:6] / f"{STAR}.csv"
    good.parent.mkdir(parents=True)
    good.write_bytes(star_csv(virac2_dir).read_bytes())
    # The Galactic centre (Reid & Brunthaler 2004): l = 359.944, b = -0.046 deg.
    (tmp_path / "positions.csv").write_text(
        f"sourceid,ra,dec,gaia_source_id\n{STAR},266.41683,-29.00781,4057468321929794432\n"
    )
    _, labels = read_virac2(
        tmp_path, {}, {"lightcurves": "light_curves", "positions": "positions.csv"}
    )
    star = labels.iloc[0]

    assert star["gal_l"] == pytest.approx(359.944, abs=2e-3)
    assert star["gal_b"] == pytest.approx(-0.046, abs=2e-3)
    assert star["gaia_source_id"] == 4057468321929794432
