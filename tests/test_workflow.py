"""The workflow run end to end with Snakemake on a subset of EROS-1."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import REPO
from workflow_run import merged, small_eros1_config

pytestmark = pytest.mark.slow
SNAKEMAKE = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile")]
STARS = 400


def snakemake(workdir: Path, *args: str, check: bool = True):
    """Run Snakemake in ``workdir`` with its config.yaml; return the result."""
    command = [
        *SNAKEMAKE,
        "--directory",
        str(workdir),
        "--configfile",
        str(workdir / "config.yaml"),
        "--cores",
        "2",
        *args,
    ]
    env = dict(os.environ, PYTHONHASHSEED="0")
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake failed:\n{result.stdout}\n{result.stderr}")
    return result


def planned_jobs(result) -> dict[str, int]:
    """The 'Job stats' table of a dry run, as {rule: count}."""
    text = result.stdout + result.stderr
    if "Nothing to be done" in text:
        return {}
    table = text.split("Job stats:", 1)[1].split("\n\n", 1)[0]
    rows = (re.fullmatch(r"(\w+)\s+(\d+)", line.strip()) for line in table.splitlines())
    return {m[1]: int(m[2]) for m in rows if m and m[1] != "total"}


def write_config(workdir: Path, **changes) -> None:
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config = merged(config, small_eros1_config(max_stars=STARS, shard_size=150))
    for key, value in changes.items():
        config[key] = value
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, eros1_dir):
    workdir = tmp_path_factory.mktemp("eros1-run")
    write_config(workdir)
    snakemake(workdir)
    return workdir


def test_outputs_hold_sensible_values(finished_run):
    results = finished_run / "results" / "eros1"
    labels = pd.read_parquet(results / "ingest" / "labels.parquet")
    assert len(labels) == STARS
    assert (labels["split"] == "test").sum() == STARS // 5
    assert sorted(labels["shard"].unique()) == [
        "shard-0000",
        "shard-0001",
        "shard-0002",
    ]

    features = pd.read_parquet(results / "features" / "features.parquet")
    rejected = pd.read_csv(results / "clean" / "rejected.csv")
    lost = set(rejected.loc[rejected["band"] == "*", "source_id"])
    assert len(features) == STARS - len(lost)
    # EROS-1 stars are variables with periods from hours to years.
    period = features["period_R"].dropna()
    assert period.between(0.1, 1000).all()
    assert features["stetson_k_R"].dropna().between(0, 1).all()

    metrics = json.loads((results / "classification" / "metrics.json").read_text())
    assert metrics["n_test"] == STARS // 5
    matrix = metrics["confusion_matrix"]["rows_true_columns_predicted"]
    assert sum(map(sum, matrix)) == metrics["n_test"]
    # 320 training stars and 20 trees are few, but far better than chance
    # (macro-F1 ~ 0.25 for four classes).
    assert metrics["macro_f1"] > 0.5

    predictions = pd.read_parquet(results / "classification" / "predictions.parquet")
    assert len(predictions) == len(features)
    assert set(predictions["predicted_class"]) <= set(metrics["per_class"])
    model = json.loads((results / "classification" / "xgboost.json").read_text())
    assert "learner" in model

    for name in ["examples_raw", "examples_folded", "feature_distributions"]:
        png = (results / "figures" / f"{name}.png").read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    assert (
        finished_run / "logs" / "eros1" / "classify" / "xgboost.log"
    ).stat().st_size > 0


def test_second_run_does_nothing(finished_run):
    assert planned_jobs(snakemake(finished_run, "-n")) == {}


def test_xgboost_parameter_reruns_only_classification(finished_run):
    result = snakemake(
        finished_run, "-n", "--config", 'classify={"xgboost": {"max_depth": 3}}'
    )
    # The XGBoost model, what compares or combines it with the other models,
    # the figures and report tables drawn from them, and the train-on-synthetic
    # test, which uses the same XGBoost settings; the provenance page records
    # the new config.
    assert set(planned_jobs(result)) == {
        "classify",
        "soft_vote",
        "compare_models",
        "calibration_table",
        "holdout_metrics",
        "report_table",
        "train_synthetic_test_real",
        "plot_confusion_matrix",
        "plot_feature_importance",
        "plot_reliability",
        "plot_model_comparison",
        "provenance",
        "all",
    }


def test_clean_parameter_reruns_clean_and_downstream(finished_run):
    result = snakemake(finished_run, "-n", "--config", 'clean={"max_mag_err": 0.5}')
    jobs = planned_jobs(result)
    assert jobs["clean"] == 3 and jobs["classify"] == 1
    assert "download" not in jobs and "ingest" not in jobs


def test_report_builds(finished_run):
    snakemake(finished_run, "--report", "results/report.html")
    html = (finished_run / "results" / "report.html").read_text(errors="replace")
    assert "confusion_matrix.png" in html
    # Captions quote the settings of this run (the fast ones of the tests).
    assert "over the same 2 stratified folds" in html
    assert "32-point phase grid" in html
    assert "5 steps (eta 0.0)" in html
    # Every figure is also a vector PDF beside its PNG.
    figures = finished_run / "results" / "eros1" / "figures"
    pngs = sorted(figures.glob("*.png"))
    assert len(pngs) >= 15
    for png in pngs:
        assert png.with_suffix(".pdf").read_bytes()[:5] == b"%PDF-", png.name


def test_bad_config_stops_before_any_job(tmp_path):
    write_config(tmp_path, ingest={"shard_size": 0})
    result = snakemake(tmp_path, "-n", check=False)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "'ingest.shard_size': 0 is out of range, it must be >= 1" in output
    assert not (tmp_path / "results").exists()


def test_no_network_and_no_mirror_names_the_option(tmp_path):
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["data"]["eros1"]["base_url"] = "http://varsky-offline.invalid/data"
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    result = snakemake(tmp_path, "results/eros1/download/manifest.json", check=False)
    assert result.returncode != 0
    assert "download_mirror" in result.stdout + result.stderr
    assert not (tmp_path / "results" / "eros1" / "download" / "manifest.json").exists()


CHROMIUM = Path("/usr/bin/chromium")


def open_each_result(page, url: str) -> tuple[dict[str, str], dict[str, int]]:
    """Click every result of every category; return {result: what it showed}
    and {result: rows of the table on it} for the pages."""
    page.goto(url)
    sidebar = page.inner_text("body").split("RESULTS", 1)[1]
    categories = [c for c in sidebar.strip().split("\n\n")[0].split("\n") if c]
    shown, rows = {}, {}
    for category in categories:
        page.goto(url)
        page.get_by_role("link", name=category, exact=True).click()
        for i in range(page.locator("tbody tr").count()):
            page.goto(url)
            page.get_by_role("link", name=category, exact=True).click()
            row = page.locator("tbody tr").nth(i)
            name = f"{category}: {row.inner_text().strip()}"
            row.locator("a[iconname=eye]").click()
            page.wait_for_timeout(300)
            widths = [
                img.evaluate(
                    "e => e.src.startsWith('data:image/png') ? e.naturalWidth : 0"
                )
                for img in page.locator("img").all()
            ]
            if max(widths, default=0) > 100:
                shown[name] = "figure"
            elif page.locator("iframe").count():
                shown[name] = "page"
                rows[name] = page.frame_locator("iframe").locator("tbody tr").count()
            else:
                shown[name] = "table" if page.locator("table").count() else "nothing"
    return shown, rows


def sorted_by_click(page, url: str, category: str, table: str, column: str):
    """Open a table page of the report, click ``column`` and return the values
    of that column, as shown, in the order the page then lists them."""
    page.goto(url)
    page.get_by_role("link", name=category, exact=True).click()
    page.locator("tbody tr", has_text=table).locator("a[iconname=eye]").click()
    frame = page.frame_locator("iframe")
    frame.locator("th", has_text=column).first.click()
    header = frame.locator("th").all_inner_texts()
    position = header.index(column)
    cells = frame.locator(f"tbody tr td:nth-child({position + 1})")
    return cells.all_inner_texts()


def test_report_opens_in_a_browser(finished_run):
    """Every figure and table of the report loads in Chromium, without errors."""
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    sync_api = pytest.importorskip("playwright.sync_api")
    report = finished_run / "results" / "report.html"
    if not report.exists():
        snakemake(finished_run, "--report", "results/report.html")

    errors = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        page = browser.new_page()
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else 0)
        page.on("pageerror", lambda error: errors.append(str(error)))
        shown, rows = open_each_result(page, report.as_uri())
        auc = sorted_by_click(
            page, report.as_uri(), "6. Embedding", "hidden_class_auc.html", "auc"
        )
        page.goto(report.as_uri())
        page.screenshot(path=str(finished_run / "results" / "report.png"))
        browser.close()

    categories = sorted({name.split(": ", 1)[0] for name in shown})
    assert categories == [
        "1. Data",
        "2. Cleaning",
        "3. Features and periods",
        "4. Gaussian processes",
        "5. Classification",
        "6. Embedding",
        "7. Diffusion",
        "8. Primer",
        "9. Provenance",
    ]
    confusion = "5. Classification: results/eros1/figures/confusion_matrix.png"
    assert shown[confusion] == "figure"
    assert shown["9. Provenance: results/provenance/provenance.html"] == "page"
    # Every metrics table is a page with its rows; four classes hidden in turn,
    # each scored on the embedding and on the features.
    tables = {n: r for n, r in rows.items() if "/report/" in n}
    assert len(tables) == 11
    # Every table has rows; the list of rejected stars may be empty.
    assert all(r > 0 for n, r in tables.items() if "rejected" not in n), tables
    assert rows["9. Provenance: results/provenance/runtimes.html"] > 10
    assert rows["6. Embedding: results/eros1/report/hidden_class_auc.html"] == 8
    assert [float(v) for v in auc] == sorted(float(v) for v in auc)
    assert [name for name, what in shown.items() if what == "nothing"] == []
    assert errors == []
    assert (finished_run / "results" / "report.png").stat().st_size > 10_000
