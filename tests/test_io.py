import numpy as np
import pandas as pd
import pytest
from conftest import EROS1_CLASSES

from varsky import io
from varsky.ingest import holdout_split, ingest


def test_parse_list_cell_reads_numbers():
    np.testing.assert_array_equal(
        io.parse_list_cell("[290.3, 291.35, -1e-2]", where="x"), [290.3, 291.35, -0.01]
    )
    assert io.parse_list_cell("[]", where="x").size == 0


@pytest.mark.parametrize("cell", ["290.3, 291.35", "[1.0, abc]"])
def test_parse_list_cell_names_the_cell(cell):
    with pytest.raises(io.InputError, match=r"file\.csv, star 7"):
        io.parse_list_cell(cell, where="file.csv, star 7")


def test_assign_shards_keeps_order_and_size():
    shards = io.assign_shards(["c", "a", "b", "d", "e"], shard_size=2)
    assert shards == {
        "c": "shard-0000",
        "a": "shard-0000",
        "b": "shard-0001",
        "d": "shard-0001",
        "e": "shard-0002",
    }


def test_write_atomic_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")

    def broken(tmp):
        with open(tmp, "w") as handle:
            handle.write("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        io.write_atomic(target, broken)
    assert target.read_text() == "old"
    assert list(tmp_path.iterdir()) == [target]


def test_ramp_labels_reference_period(eros1_dir):
    labels = io.read_ramp_labels(eros1_dir / "train.csv", EROS1_CLASSES, "train")
    assert len(labels) == 2912
    star = labels.set_index("source_id").loc["135_9613"]
    # train.csv: period 2.35495, div_period 7, type 3.
    assert star["reference_period"] == pytest.approx(2.35495 / 7)
    assert star["class_name"] == "rr_lyrae"
    assert labels["class_name"].value_counts().to_dict() == {
        "rr_lyrae": 1777,
        "cepheid": 604,
        "eclipsing_binary": 339,
        "mira": 192,
    }


def test_ramp_labels_refuse_unknown_class(tmp_path, eros1_dir):
    with pytest.raises(io.InputError, match=r"class codes \[4\]"):
        io.read_ramp_labels(eros1_dir / "train.csv", {1: "a", 2: "b", 3: "c"}, "train")


def test_holdout_is_stratified_and_seeded():
    labels = pd.DataFrame(
        {
            "source_id": [f"s{i}" for i in range(100)],
            "class_name": ["a"] * 80 + ["b"] * 20,
        }
    )
    first = holdout_split(labels, 0.2, seed=1)
    again = holdout_split(labels, 0.2, seed=1)
    other = holdout_split(labels, 0.2, seed=2)
    test = first[first["split"] == "test"]
    assert test["class_name"].value_counts().to_dict() == {"a": 16, "b": 4}
    assert first["split"].tolist() == again["split"].tolist()
    assert first["split"].tolist() != other["split"].tolist()


def test_ingest_eros1_subset(tmp_path, eros1_dir):
    manifest = {
        "files": {
            "train.csv": {"status": "cached"},
            "train_varlength_features.csv.gz": {"status": "downloaded"},
            "test.csv": {"status": "missing"},
        }
    }
    spec = {"format": "ramp", "class_names": EROS1_CLASSES, "max_stars": 100}
    labels = ingest(
        eros1_dir,
        manifest,
        spec,
        tmp_path / "shards",
        tmp_path / "labels.parquet",
        shard_size=40,
        holdout_fraction=0.25,
        seed=3,
    )
    shards = sorted(p.name for p in (tmp_path / "shards").iterdir())
    assert shards == ["shard-0000.parquet", "shard-0001.parquet", "shard-0002.parquet"]
    assert (labels["split"] == "test").sum() == 25

    lc = io.read_lightcurves(tmp_path / "shards" / "shard-0000.parquet")
    assert lc["source_id"].nunique() == 40
    assert list(lc.columns) == ["source_id", "band", "time", "mag", "mag_err", "flags"]
    first = lc[(lc["source_id"] == "135_9613") & (lc["band"] == "B")]
    # The first B epochs of 135_9613 in train_varlength_features.csv.gz.
    assert first["time"].iloc[:3].tolist() == [290.3, 291.35, 322.25]
    assert set(lc["band"]) == {"B", "R"}
    stars_per_shard = labels.groupby("shard")["source_id"].nunique().tolist()
    assert stars_per_shard == [40, 40, 20]


def test_holdout_of_too_few_stars_names_the_key():
    labels = pd.DataFrame({"source_id": ["a", "b"], "class_name": ["x", "y"]})
    with pytest.raises(io.InputError, match=r"2 labelled stars .*holdout_fraction"):
        holdout_split(labels, 0.2, seed=1)
