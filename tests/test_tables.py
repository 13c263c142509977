"""The generic table reader on the Catalina and VIRAC2 samples in every shape."""

import bz2
import gzip
import re
import shutil

import numpy as np
import pandas as pd
import pytest
import yaml
from astropy.table import Table
from conftest import DATA, REPO

from varsky import io
from varsky.config import ConfigError, load_schema, validate_config
from varsky.ingest import ingest
from varsky.tables import read_table_dataset

CRTS = DATA / "crts"
VIRAC2 = DATA / "virac2"
CRTS_STARS = [
    "delta_scuti_1007116039942",
    "rr_lyrae_1001004012176",
    "rr_lyrae_1001006023682",
    "w_uma_1001005029084",
]
CRTS_PATTERN = r"(?P<class_name>[a-z_]+?)_(?P<source_id>\d+)"
VIRAC2_BANDS = ["Z", "Y", "J", "H", "Ks"]


@pytest.fixture(scope="module")
def crts_raw() -> dict[str, pd.DataFrame]:
    if not (CRTS / f"{CRTS_STARS[0]}.csv").exists():
        pytest.skip(f"the Catalina sample is not at {CRTS}")
    return {name: pd.read_csv(CRTS / f"{name}.csv") for name in CRTS_STARS}


@pytest.fixture(scope="module")
def crts_expected(crts_raw) -> pd.DataFrame:
    """The tidy table written by hand from the survey's own columns."""
    frames = [
        pd.DataFrame(
            {
                "source_id": name.rsplit("_", 1)[1],
                "band": "V",
                "time": raw["MJD"],
                "mag": raw["Mag"],
                "mag_err": raw["Magerr"],
                "flags": raw["Flags"],
            }
        )
        for name, raw in crts_raw.items()
    ]
    return io.to_tidy(pd.concat(frames, ignore_index=True))


def _read(path, **spec):
    spec = {"bands": ["V"], "columns": {"flags": ["Flags"]}, **spec}
    lightcurves, labels, metadata = read_table_dataset("user", spec, path)
    return io.to_tidy(lightcurves), labels, metadata


def _write_each(raw: dict, folder, write) -> None:
    folder.mkdir()
    for name, frame in raw.items():
        write(frame, folder / name)


def _csv_dir(raw, folder):
    _write_each(raw, folder, lambda f, p: shutil.copy(CRTS / f"{p.name}.csv", folder))


def _fits_dir(raw, folder):
    _write_each(raw, folder, lambda f, p: Table.from_pandas(f).write(f"{p}.fits"))


def _ecsv_dir(raw, folder):
    _write_each(raw, folder, lambda f, p: Table.from_pandas(f).write(f"{p}.ecsv"))


def _gzip_csv_dir(raw, folder):
    def write(frame, path):
        with gzip.open(f"{path}.csv.gz", "wt") as handle:
            frame.to_csv(handle, index=False)

    _write_each(raw, folder, write)


def _bz2_csv_dir(raw, folder):
    def write(frame, path):
        with bz2.open(f"{path}.csv.bz2", "wt") as handle:
            frame.to_csv(handle, index=False)

    _write_each(raw, folder, write)


SHAPES = {
    "csv": _csv_dir,
    "fits": _fits_dir,
    "ecsv": _ecsv_dir,
    "csv.gz": _gzip_csv_dir,
    "csv.bz2": _bz2_csv_dir,
}


@pytest.mark.parametrize("shape", SHAPES)
def test_directory_of_files_gives_the_tidy_table(
    shape, crts_raw, crts_expected, tmp_path
):
    SHAPES[shape](crts_raw, tmp_path / "stars")

    tidy, labels, metadata = _read(tmp_path / "stars", id_pattern=CRTS_PATTERN)

    pd.testing.assert_frame_equal(tidy, crts_expected)
    assert metadata["time_system"] == "mjd"
    assert dict(zip(labels["source_id"], labels["class_name"], strict=True)) == {
        "1007116039942": "delta_scuti",
        "1001004012176": "rr_lyrae",
        "1001006023682": "rr_lyrae",
        "1001005029084": "w_uma",
    }


def test_one_long_parquet_gives_the_same_table(crts_raw, crts_expected, tmp_path):
    # MasterID is the star; the CRTS column ID numbers single detections.
    long = pd.concat(crts_raw.values(), ignore_index=True)
    long.to_parquet(tmp_path / "all.parquet")
    labels_file = tmp_path / "classes.csv"
    pd.DataFrame(
        {"MasterID": [n.rsplit("_", 1)[1] for n in CRTS_STARS], "type": "x"}
    ).to_csv(labels_file, index=False)

    tidy, labels, _ = _read(
        tmp_path / "all.parquet",
        columns={"id": "MasterID", "flags": ["Flags"]},
        labels={"path": str(labels_file)},
        class_names={"x": "rr_lyrae"},
    )

    pd.testing.assert_frame_equal(tidy, crts_expected)
    assert set(labels["class_name"]) == {"rr_lyrae"}
    assert set(labels["split"]) == {"train"}


def test_crts_file_read_in_place_keeps_every_value(crts_raw, tmp_path):
    name = "rr_lyrae_1001004012176"
    (tmp_path / "one").mkdir()
    shutil.copy(CRTS / f"{name}.csv", tmp_path / "one")
    tidy, _, _ = _read(tmp_path / "one", id_pattern=CRTS_PATTERN)

    assert len(tidy) == len(crts_raw[name])
    # The file's first data row.
    first = tidy[tidy["time"] == 53710.0989193749].iloc[0]
    assert (first["mag"], first["mag_err"]) == (16.927663, 0.0809600260197611)
    assert (first["source_id"], first["band"], first["flags"]) == (
        "1001004012176",
        "V",
        0,
    )


@pytest.fixture(scope="module")
def virac2_long() -> pd.DataFrame:
    if not (VIRAC2 / "reclass_LC.fits").exists():
        pytest.skip(f"the VIRAC2 sample is not at {VIRAC2}")
    tidy, _, _ = _read(VIRAC2 / "reclass_LC.fits", bands=VIRAC2_BANDS, columns={})
    return tidy


def test_virac2_per_source_csvs_match_the_long_fits_table(virac2_long):
    # The CSVs hold one magnitude column per band: a column template.
    tidy, _, metadata = _read(
        VIRAC2 / "light_curves",
        bands=VIRAC2_BANDS,
        pattern="**/*.csv",
        columns={"mag": "{band_lower}_mag", "mag_err": "{band_lower}_err"},
    )
    assert metadata["files_read"] == 17
    assert not metadata["files_skipped"]
    shared = virac2_long[virac2_long["source_id"].isin(set(tidy["source_id"]))]
    pd.testing.assert_frame_equal(tidy, shared.reset_index(drop=True))
    assert tidy.groupby("band").size().to_dict() == {
        "H": 103,
        "J": 108,
        "Ks": 3380,
        "Y": 91,
        "Z": 91,
    }


def test_virac2_long_parquet_matches_fits(virac2_long, tmp_path):
    Table.read(VIRAC2 / "reclass_LC.fits").to_pandas().to_parquet(tmp_path / "a.pq")
    tidy, _, _ = _read(tmp_path / "a.pq", bands=VIRAC2_BANDS, columns={})
    pd.testing.assert_frame_equal(tidy, virac2_long)


def test_positions_table_fills_ra_dec(virac2_long):
    _, labels, _ = read_table_dataset(
        "user",
        {
            "bands": VIRAC2_BANDS,
            "positions": {"path": str(VIRAC2 / "reclass.fits"), "id": "sourceid"},
        },
        VIRAC2 / "reclass_LC.fits",
    )
    # reclass.fits lists source 8926177029071 twice, at the same position.
    positions = Table.read(VIRAC2 / "reclass.fits").to_pandas()
    positions = positions.drop_duplicates("sourceid")
    expected = positions.set_index(positions["sourceid"].astype(str))
    got = labels.set_index("source_id")
    np.testing.assert_allclose(got["ra"], expected.loc[got.index, "ra"])
    np.testing.assert_allclose(got["dec"], expected.loc[got.index, "dec"])
    assert len(got) == 17
    assert labels["class_name"].isna().all()
    assert set(labels["split"]) == {"unlabelled"}


# --------------------------------------------------------------------------- #
# Units, fluxes and bad input
# --------------------------------------------------------------------------- #
def _star(tmp_path, name, frame):
    folder = tmp_path / "stars"
    folder.mkdir(exist_ok=True)
    frame.to_csv(folder / name, index=False)
    return folder


def test_flux_converted_to_magnitudes_with_errors(tmp_path):
    frame = pd.DataFrame(
        {"time": [1.0, 2.0, 3.0], "flux": [100.0, 10.0, -1.0], "fluxerr": 1.0}
    )
    folder = _star(tmp_path, "s1.csv", frame)
    tidy, _, metadata = _read(
        folder, columns={}, flux={"convert": True, "zero_point": 25.0}
    )
    # 25 − 2.5 log10(100) = 20; σ = 2.5 / ln 10 × 1 / 100; negative flux dropped.
    np.testing.assert_allclose(tidy["mag"], [20.0, 22.5])
    np.testing.assert_allclose(tidy["mag_err"], [0.010857362, 0.10857362])
    assert metadata["flux_converted"] is True


def test_time_unit_and_offset(tmp_path):
    frame = pd.DataFrame({"jd": [2451544.5 * 24], "mag": [15.0], "emag": [0.1]})
    folder = _star(tmp_path, "s1.csv", frame)
    tidy, _, metadata = _read(
        folder,
        columns={},
        time={"system": "mjd", "unit": "h", "offset": -2400000.5},
    )
    assert tidy["time"].iloc[0] == pytest.approx(51544.0)
    assert metadata["time_system"] == "mjd"


def test_julian_dates_read_as_mjd_are_refused(tmp_path):
    frame = pd.DataFrame({"mjd": [2451544.5], "mag": [15.0], "emag": [0.1]})
    _star(tmp_path, "s1.csv", frame)
    with pytest.raises(io.InputError, match=r"s1\.csv.*'mjd'.*data\.user\.time"):
        _read(tmp_path / "stars", columns={})


GOOD = pd.DataFrame({"mjd": [1.0, 2.0], "mag": [15.0, 15.1], "magerr": [0.1, 0.1]})


@pytest.mark.parametrize(
    ("bad", "spec", "message"),
    [
        (
            GOOD.rename(columns={"mag": "brightness"}),
            {},
            r"bad\.csv: no column for mag .* set config key 'data\.user\.columns\.mag'",
        ),
        (
            GOOD,
            {"columns": {"mag_err": "sig"}},
            r"bad\.csv: column 'sig' named by config key "
            r"'data\.user\.columns\.mag_err'",
        ),
        (
            GOOD.assign(hjd=[1.1, 2.1]),
            {},
            r"bad\.csv: columns 'mjd', 'hjd' hold times in different systems.*"
            r"'data\.user\.columns\.time'",
        ),
        (
            # The good file has no band column, so it is all V (config key band).
            GOOD.assign(band=["V", "I"], mag=[15.0, np.nan]),
            {"bands": ["V", "I"]},
            r"bad\.csv: band\(s\) 'I' have no points with a finite mag "
            r"\(config key 'data\.user\.columns\.mag'\)",
        ),
    ],
    ids=["no-known-spelling", "missing-mapped-column", "mixed-time", "empty-band"],
)
def test_bad_file_is_skipped_with_its_reason(bad, spec, message, tmp_path):
    _star(tmp_path, "good.csv", GOOD)
    _star(tmp_path, "bad.csv", bad)
    if "columns" in spec:
        # A mapped column applies to every file: only the good one has it.
        _star(tmp_path, "good.csv", GOOD.rename(columns={"magerr": "sig"}))
    if "band" in bad:
        _star(tmp_path, "good.csv", GOOD.assign(band=["V", "I"]))

    tidy, _, metadata = _read(tmp_path / "stars", **{"columns": {}, **spec})

    assert set(tidy["source_id"]) == {"good"}
    (reason,) = metadata["files_skipped"].values()
    assert re.search(message, reason), reason


@pytest.mark.parametrize(
    ("name", "content"),
    [("bad.csv", b""), ("bad.csv", b"# only a comment\n"), ("bad.parquet", b"")],
    ids=["empty-csv", "comment-only-csv", "empty-parquet"],
)
def test_empty_file_is_skipped_as_empty(name, content, tmp_path):
    folder = _star(tmp_path, "good.csv", GOOD)
    (folder / name).write_bytes(content)
    tidy, _, metadata = _read(folder, columns={})
    assert set(tidy["source_id"]) == {"good"}
    (reason,) = metadata["files_skipped"].values()
    assert re.search(rf"{name}: empty file", reason), reason


def test_files_in_another_time_system_are_skipped(tmp_path):
    _star(tmp_path, "a.csv", GOOD)
    _star(tmp_path, "b.csv", GOOD.rename(columns={"mjd": "hjd"}))
    tidy, _, metadata = _read(tmp_path / "stars", columns={})
    assert set(tidy["source_id"]) == {"a"}
    assert (
        "data.user.time.system"
        in metadata["files_skipped"][str(tmp_path / "stars/b.csv")]
    )


def test_band_listed_but_absent_everywhere_stops(tmp_path):
    _star(tmp_path, "a.csv", GOOD)
    with pytest.raises(
        io.InputError, match=r"'I' listed in config key 'data\.user\.bands'"
    ):
        _read(tmp_path / "stars", bands=["V", "I"], band="V", columns={})


def test_no_readable_file_stops_naming_the_first_problem(tmp_path):
    _star(tmp_path, "a.csv", GOOD.rename(columns={"mag": "brightness"}))
    with pytest.raises(io.InputError, match=r"none of the 1 files.*a\.csv"):
        _read(tmp_path / "stars", columns={})


def test_ingest_writes_shards_with_the_time_system(crts_raw, tmp_path):
    _csv_dir(crts_raw, tmp_path / "stars")
    # Without id_pattern the star id is the whole file name, with no class.
    spec = {
        "format": "table",
        "name": "user",
        "path": str(tmp_path / "stars"),
        "bands": ["V"],
    }
    labels = ingest(
        tmp_path / "stars",
        {"files": {}},
        spec,
        tmp_path / "shards",
        tmp_path / "labels.parquet",
        shard_size=3,
        holdout_fraction=0.25,
        seed=1,
    )
    assert sorted(p.name for p in (tmp_path / "shards").iterdir()) == [
        "shard-0000.parquet",
        "shard-0001.parquet",
    ]
    metadata = io.read_metadata(tmp_path / "shards" / "shard-0000.parquet")
    assert metadata["time_system"] == "mjd"
    assert metadata["time_unit"] == "d"
    assert io.read_metadata(tmp_path / "labels.parquet")["time_offset_days"] == 0.0
    assert labels["source_id"].tolist() == sorted(CRTS_STARS)
    assert set(labels["split"]) == {"unlabelled"}


def test_partly_labelled_dataset_holds_out_only_labelled_stars(tmp_path):
    for name in "abcdefgh":
        _star(tmp_path, f"{name}.csv", GOOD)
    classes = pd.DataFrame({"id": list("abcdef"), "class": ["x", "y"] * 3})
    # The labels table sits beside the light curves and is not read as one.
    classes.to_csv(tmp_path / "stars" / "classes.csv", index=False)
    spec = {
        "format": "table",
        "name": "user",
        "bands": ["V"],
        "labels": {"path": str(tmp_path / "stars" / "classes.csv")},
    }
    labels = ingest(
        tmp_path / "stars",
        {"files": {}},
        spec,
        tmp_path / "shards",
        tmp_path / "labels.parquet",
        shard_size=10,
        holdout_fraction=0.3,
        seed=1,
    ).set_index("source_id")

    assert labels.loc[["g", "h"], "split"].tolist() == ["unlabelled", "unlabelled"]
    assert labels.loc[["g", "h"], "class_name"].isna().all()
    held_out = labels[labels["split"] == "test"]
    assert held_out["class_name"].value_counts().to_dict() == {"x": 1, "y": 1}
    assert (labels["split"] == "train").sum() == 4


def test_table_dataset_needs_path_and_bands():
    schema = load_schema(REPO / "config" / "config.schema.yaml")
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["data"]["mine"] = {"format": "table", "path": "x"}
    with pytest.raises(ConfigError, match=r"'data\.mine'.*'bands'"):
        validate_config(config, schema)
    config["data"]["mine"]["time"] = {"unit": "days"}
    config["data"]["mine"]["bands"] = ["V"]
    with pytest.raises(ConfigError, match=r"data\.mine\.time\.unit"):
        validate_config(config, schema)


def test_band_from_file_name_joins_one_star(tmp_path):
    _star(tmp_path, "star1_B.csv", GOOD)
    _star(tmp_path, "star1_R.csv", GOOD.assign(mag=[14.0, 14.2]))
    tidy, labels, _ = _read(
        tmp_path / "stars",
        bands=["B", "R"],
        columns={},
        id_pattern=r"(?P<source_id>\w+?)_(?P<band>[BR])",
    )
    assert labels["source_id"].tolist() == ["star1"]
    assert tidy.groupby("band")["mag"].mean().to_dict() == pytest.approx(
        {"B": 15.05, "R": 14.1}
    )


def test_named_id_column_keeps_leading_zeros(tmp_path):
    long = pd.concat([GOOD.assign(star="007"), GOOD.assign(star="070")])
    long.to_csv(tmp_path / "all.csv", index=False)
    tidy, labels, _ = _read(tmp_path / "all.csv", columns={"id": "star"})
    assert labels["source_id"].tolist() == ["007", "070"]
    assert tidy["source_id"].value_counts().to_dict() == {"007": 2, "070": 2}


def test_ecsv_time_column_is_read_as_mjd(tmp_path):
    from astropy.time import Time

    table = Table(
        {
            "time": Time([2451544.5, 2451545.5], format="jd", scale="tdb"),
            "mag": [15.0, 15.1],
            "magerr": [0.1, 0.1],
        }
    )
    (tmp_path / "stars").mkdir()
    table.write(tmp_path / "stars" / "s1.ecsv")
    tidy, _, _ = _read(tmp_path / "stars", columns={}, time={"system": "mjd"})
    np.testing.assert_allclose(tidy["time"], [51544.0, 51545.0])
