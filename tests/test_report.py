"""The report's figures, tables and captions: one style, both formats, units."""

import base64
import functools
import re
from html.parser import HTMLParser
from types import SimpleNamespace

import jinja2
import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import REPO
from docutils.core import publish_parts

from varsky import embed_plots, plots
from varsky.config import load_schema, validate_config
from varsky.report import format_value, holdout_table, table_page


def test_save_figure_writes_png_and_vector_pdf_with_the_style_font(tmp_path):
    fig, ax = plots.plt.subplots()
    ax.plot([0, 1, 2], [3, 1, 2])
    ax.set_xlabel(plots.TIME_LABEL)
    plots.save_figure(fig, tmp_path / "line.png", dpi=60)

    png = (tmp_path / "line.png").read_bytes()
    pdf = (tmp_path / "line.pdf").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert pdf[:5] == b"%PDF-"
    # Lines stay vectors: the PDF holds no raster image; the text is in the
    # style's font, embedded whole as TrueType (pdf.fonttype 42).
    assert b"/Subtype /Image" not in pdf
    assert b"/FontFile2" in pdf and b"DejaVuSans" in pdf
    # Nothing time-dependent: the same figure gives the same bytes.
    assert b"/CreationDate" not in pdf
    assert sorted(p.name for p in tmp_path.iterdir()) == ["line.pdf", "line.png"]


def test_save_figure_is_repeatable_and_refuses_other_names(tmp_path):
    for name in ("a", "b"):
        fig, ax = plots.plt.subplots()
        ax.plot([0, 1], [1, 0])
        plots.save_figure(fig, tmp_path / f"{name}.png", dpi=50)
    for suffix in (".png", ".pdf"):
        first = (tmp_path / f"a{suffix}").read_bytes()
        assert first == (tmp_path / f"b{suffix}").read_bytes()
    fig, _ = plots.plt.subplots()
    with pytest.raises(ValueError, match=r"figure\.svg: .* \.png"):
        plots.save_figure(fig, tmp_path / "figure.svg")


@pytest.mark.parametrize(
    ("feature", "label"),
    [
        ("period", "period (d)"),
        ("period_R", "period R (d)"),
        ("period_power_R", "period power R"),
        ("robust_amplitude_Ks", "robust amplitude Ks (mag)"),
        ("color_B_R", "color B R (mag)"),
        ("stetson_k_R", "stetson k R"),
        ("weighted_mean_V", "weighted mean V (mag)"),
    ],
)
def test_feature_axis_labels_carry_units(feature, label):
    assert plots.with_unit(feature) == label


def _toy_lightcurves():
    time = np.linspace(0.0, 30.0, 40)
    rows = []
    for sid in ("a", "b"):
        for band, offset in (("B", 0.3), ("R", 0.0)):
            mag = 15.0 + offset + 0.4 * np.sin(2 * np.pi * time / 0.6)
            rows.append(
                pd.DataFrame({"source_id": sid, "band": band, "time": time, "mag": mag})
            )
    return pd.concat(rows, ignore_index=True)


@pytest.mark.parametrize("folded", [False, True])
def test_light_curve_figures_put_bright_up_and_name_units(folded):
    lightcurves = _toy_lightcurves()
    examples = pd.DataFrame(
        {"source_id": ["a", "b"], "class_name": ["mira", "cepheid"]}
    )
    periods = pd.Series({"a": 0.6, "b": 0.6})
    figures = [
        plots.plot_examples(lightcurves, examples, periods, folded=folded),
        plots.plot_survey_lightcurves(lightcurves, ["a", "b"], periods, folded),
    ]
    for fig in figures:
        axes = [ax for ax in fig.axes if ax.get_visible()]
        for ax in axes:
            assert ax.yaxis_inverted(), "magnitudes must be plotted bright up"
            assert ax.get_xlabel() == ("phase" if folded else "time (d)")
        assert any(ax.get_ylabel().endswith("magnitude (mag)") for ax in axes)
        plots.plt.close(fig)


def test_anomaly_figure_puts_bright_up_and_labels_magnitudes():
    scores = pd.DataFrame({"source_id": ["a", "b"], "rank": [1, 2]})
    labels = pd.DataFrame({"source_id": ["a", "b"], "class_name": ["mira", "mira"]})
    fig = embed_plots.plot_top_anomalies(
        _toy_lightcurves(), scores, labels, pd.Series({"a": 0.6, "b": 0.6}), ncols=2
    )
    first = fig.axes[0]
    assert first.yaxis_inverted() and first.get_ylabel() == "magnitude (mag)"
    plots.plt.close(fig)


def test_model_comparison_names_the_number_of_folds():
    table = pd.DataFrame(
        {
            "model": ["xgboost"],
            "macro_f1_mean": [0.8],
            "macro_f1_std": [0.02],
            "f1_mira_mean": [0.9],
            "f1_mira_std": [0.01],
        }
    )
    fig = plots.plot_model_comparison(table, n_folds=7)
    assert fig.axes[0].get_ylabel() == "F1, 7-fold mean ± std"
    plots.plt.close(fig)


def test_holdout_table_by_hand():
    record = {
        "model": "mlp",
        "holdout": {
            "macro_f1": 0.55,
            "accuracy": 0.6,
            "per_class": {
                "mira": {"precision": 1.0, "recall": 0.5, "f1": 2 / 3, "support": 4},
                "cepheid": {"precision": 0.2, "recall": 0.6, "f1": 0.3, "support": 6},
            },
        },
    }
    table = holdout_table([record, {"model": "rnn", "holdout": None}])
    assert list(table["class_name"]) == ["mira", "cepheid", "all (macro)"]
    macro = table.iloc[-1]
    assert macro["precision"] == pytest.approx(0.6)
    assert macro["recall"] == pytest.approx(0.55)
    assert macro["f1"] == 0.55 and macro["accuracy"] == 0.6
    assert macro["n_test"] == 10
    assert set(table["model"]) == {"mlp"}


class _Cells(HTMLParser):
    """The header and the cells of the first table of a page, as text."""

    def __init__(self):
        super().__init__()
        self.header, self.rows, self.values, self.links = [], [], [], []
        self._in = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "tr":
            self.rows.append([])
        if tag in ("th", "td"):
            self._in = tag
            if tag == "td" and "data-value" in attrs:
                self.values.append(attrs["data-value"])
        if tag == "a":
            self.links.append(attrs)

    def handle_endtag(self, tag):
        if tag in ("th", "td"):
            self._in = None

    def handle_data(self, data):
        if self._in == "th":
            self.header.append(data)
        elif self._in == "td":
            self.rows[-1].append(data)


def test_table_page_shows_every_cell_and_attaches_the_file(tmp_path):
    source = tmp_path / "scores.tsv"
    table = pd.DataFrame(
        {"model": ["xgboost", "mlp"], "auc": [0.912345, np.nan], "n": [120, 7]}
    )
    table.to_csv(source, sep="\t", index=False)
    page = table_page(pd.read_csv(source, sep="\t"), "Scores <test>", source)

    cells = _Cells()
    cells.feed(page)
    assert cells.header == ["model", "auc", "n"]
    assert [r for r in cells.rows if r] == [
        ["xgboost", "0.9123", "120"],
        ["mlp", "–", "7"],
    ]
    # Numbers sort by their full value; a missing one sorts last.
    assert cells.values == [repr(0.912345), "120.0", "", "7.0"]
    assert "Scores &lt;test&gt;" in page
    link = next(a for a in cells.links if "download" in a)
    assert link["download"] == "scores.tsv"
    attached = base64.b64decode(link["href"].split("base64,", 1)[1])
    assert attached == source.read_bytes()


@pytest.mark.parametrize(
    ("value", "text"),
    [(3.0, "3"), (0.000123456, "0.0001235"), (12345.678, "1.235e+04"), (None, "–")],
)
def test_format_value(value, text):
    assert format_value(value) == text


# Wildcard values each caption may be rendered with.
CAPTION_WILDCARDS = {
    "view": ["raw", "folded"],
    "colour": ["class", "period"],
    "example": ["line_fit", "forecast"],
    "table": None,  # every report table, read from the rules below
}


class _Params:
    """Stands in for a rule's params: any attribute is a number or a list."""

    def __getattr__(self, name):
        return ["period", "stetson_k_R"] if name == "columns" else 3


def _report_tables() -> list[str]:
    text = (REPO / "rules" / "common.smk").read_text()
    block = text.split("REPORT_TABLES = {", 1)[1].split("\n}\n", 1)[0]
    return re.findall(r'^    "(\w+)": \(', block, re.MULTILINE)


@functools.cache
def _default_config() -> dict:
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    return validate_config(config, load_schema(REPO / "config" / "config.schema.yaml"))


@pytest.mark.parametrize(
    "caption", sorted(p.name for p in (REPO / "report").glob("*.rst"))
)
def test_captions_render_with_the_config_values(caption):
    """Every caption renders with the config (a misspelt key fails) to RST that
    docutils reads without a complaint, quoting the seed or a setting."""
    config = _default_config()
    env = jinja2.Environment(
        trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined
    )
    template = env.from_string((REPO / "report" / caption).read_text())
    # Every table of the rules, and every table the captions know of.
    known = re.findall(r't == "(\w+)"', template_source("tables.rst"))
    choices = dict(CAPTION_WILDCARDS, table=sorted({*_report_tables(), *known}))
    names = [n for n in choices if f"wildcards.{n}" in template_source(caption)]
    combos = [{}] if not names else [{names[0]: v} for v in choices[names[0]]]
    for combo in combos:
        wildcards = SimpleNamespace(dataset="eros1", **combo)
        snakemake = SimpleNamespace(
            config=config, params=_Params(), wildcards=wildcards
        )
        text = template.render(snakemake=snakemake, categories={}, files=[])
        assert text.strip(), f"{caption} {combo}: empty caption"
        html = publish_parts(
            text, writer="html", settings_overrides={"report_level": 2}
        )["body"]
        assert "system-message" not in html, f"{caption} {combo}: {html}"


def template_source(caption: str) -> str:
    return (REPO / "report" / caption).read_text()


def test_table_captions_cover_every_report_table():
    source = template_source("tables.rst")
    tables = _report_tables()
    assert len(tables) >= 10
    for name in tables:
        assert f't == "{name}"' in source, f"no caption for the table {name}"


def _render(caption: str, **wildcards) -> str:
    env = jinja2.Environment(
        trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined
    )
    snakemake = SimpleNamespace(
        config=_default_config(),
        params=_Params(),
        wildcards=SimpleNamespace(dataset="eros1", **wildcards),
    )
    return env.from_string(template_source(caption)).render(snakemake=snakemake)


def test_captions_quote_the_settings_the_figure_was_made_from():
    # The defaults of config/config.yaml.
    assert "matern32 plus trend GP" in _render("gp_examples.rst")
    assert "128-point phase grid" in _render("gp_examples.rst")
    trees = _default_config()["classify"]["xgboost"]
    confusion = _render("confusion_matrix.rst")
    assert f"at most {trees['n_estimators']} trees of depth {trees['max_depth']}" in (
        confusion
    )
    assert ("early stopping" in confusion) == bool(trees["early_stopping_rounds"])
    assert "seed 42" in _render("confusion_matrix.rst")
    assert "10, 50, all labelled stars" in _render("embed_few_label.rst")
    assert "perplexity 30" in _render("embed_map.rst", colour="class")
    few = _render("tables.rst", table="few_label")
    assert "5 draws per size" in few and "Wasserstein" not in few
