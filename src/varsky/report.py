"""Tables of the report: metrics tables as pages a reader can browse.

Snakemake's report shows a PNG or an HTML page in place but offers a CSV or TSV
file only as a download, so each metrics table of the workflow is also written
as a small self-contained HTML page: its columns sortable by a click, numbers
right-aligned to a fixed number of significant digits, and the table itself
attached for download.
"""

from __future__ import annotations

import base64
import html
import logging
import math
import time
from pathlib import Path

import numpy as np
import pandas as pd

from varsky.io import write_atomic

log = logging.getLogger(__name__)

# Significant digits of the non-integer numbers shown (the file keeps them all).
DIGITS = 4


def read_metrics_table(path: str | Path) -> pd.DataFrame:
    """A CSV (``.csv``) or tab-separated (``.tsv``) table of the workflow."""
    path = Path(path)
    if path.suffix not in (".csv", ".tsv"):
        raise ValueError(f"{path}: a report table must be .csv or .tsv")
    return pd.read_csv(path, sep="\t" if path.suffix == ".tsv" else ",")


def format_value(value, digits: int = DIGITS) -> str:
    """One cell as text: integers whole, other numbers to ``digits`` significant
    digits, missing values as an en dash."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        if float(value).is_integer() and abs(value) < 10**digits:
            return str(int(value))
        return f"{float(value):.{digits}g}"
    return str(value)


def holdout_table(metrics: list[dict]) -> pd.DataFrame:
    """Test-split precision, recall and F1 of every model, class by class.

    ``metrics`` are the ``metrics.json`` records of the classifiers (each with
    ``model`` and ``holdout``; a model without a test split is left out). Per
    class, precision = TP / (TP + FP), recall = TP / (TP + FN) and F1 their
    harmonic mean; the row ``all (macro)`` of each model holds the unweighted
    means over the classes and the accuracy (Sokolova & Lapalme 2009,
    doi:10.1016/j.ipm.2009.03.002).
    """
    rows = []
    for record in metrics:
        holdout = record.get("holdout")
        if not holdout:
            continue
        per_class = holdout["per_class"]
        for name, scores in per_class.items():
            rows.append(
                {
                    "model": record["model"],
                    "class_name": name,
                    "precision": scores["precision"],
                    "recall": scores["recall"],
                    "f1": scores["f1"],
                    "accuracy": np.nan,
                    "n_test": scores["support"],
                }
            )
        rows.append(
            {
                "model": record["model"],
                "class_name": "all (macro)",
                "precision": np.mean([s["precision"] for s in per_class.values()]),
                "recall": np.mean([s["recall"] for s in per_class.values()]),
                "f1": holdout["macro_f1"],
                "accuracy": holdout["accuracy"],
                "n_test": sum(s["support"] for s in per_class.values()),
            }
        )
    columns = ["model", "class_name", "precision", "recall", "f1", "accuracy"]
    return pd.DataFrame(rows, columns=[*columns, "n_test"])


def table_page(table: pd.DataFrame, title: str, source: str | Path) -> str:
    """A self-contained HTML page of ``table``, sortable by clicking a header.

    ``source`` is the file the table was read from: named on the page and
    attached to it for download, byte for byte.
    """
    source = Path(source)
    numeric = [pd.api.types.is_numeric_dtype(table[c]) for c in table.columns]
    header = "".join(
        f'<th class="{"num" if n else "text"}">{html.escape(str(c))}</th>'
        for c, n in zip(table.columns, numeric, strict=True)
    )
    body = "\n".join(
        "<tr>"
        + "".join(
            _cell(value, is_number)
            for value, is_number in zip(row, numeric, strict=True)
        )
        + "</tr>"
        for row in table.itertuples(index=False, name=None)
    )
    mime = "text/tab-separated-values" if source.suffix == ".tsv" else "text/csv"
    attached = base64.b64encode(source.read_bytes()).decode("ascii")
    return _PAGE.format(
        title=html.escape(title),
        name=html.escape(source.name),
        path=html.escape(str(source)),
        rows=len(table),
        empty=" (nothing to list)" if table.empty else "",
        digits=DIGITS,
        href=f"data:{mime};base64,{attached}",
        header=header,
        body=body,
    )


def write_table_page(source: str | Path, page: str | Path, title: str) -> None:
    """Read the table ``source`` and write its page (:func:`table_page`) to
    ``page``, atomically."""
    start = time.perf_counter()
    table = read_metrics_table(source)
    text = table_page(table, title, source)
    write_atomic(page, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
    log.info(
        "report table %s: %d rows, %d columns, %.2f s",
        source,
        len(table),
        table.shape[1],
        time.perf_counter() - start,
    )


def _cell(value, is_number: bool) -> str:
    text = html.escape(format_value(value))
    if not is_number:
        return f"<td>{text}</td>"
    sort_key = "" if pd.isna(value) else repr(float(value))
    return f'<td class="num" data-value="{sort_key}">{text}</td>'


# Clicking a header sorts by that column, numbers by value (missing last);
# clicking it again reverses the order.
_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: "DejaVu Sans", sans-serif; font-size: 13px; margin: 1em; }}
table {{ border-collapse: collapse; }}
th, td {{ padding: 3px 10px; border-bottom: 1px solid #ddd; }}
th {{ position: sticky; top: 0; background: #f0f0f0; cursor: pointer;
      text-align: left; user-select: none; }}
th.num, td.num {{ text-align: right; font-variant-numeric: tabular-nums; }}
tr:hover td {{ background: #eef4fb; }}
p {{ color: #444; }}
</style></head><body>
<h2>{title}</h2>
<p>{rows} rows of <code>{path}</code>{empty}; numbers to {digits} significant digits
(the file keeps them all); click a column name to sort.
<a href="{href}" download="{name}">Download {name}</a></p>
<table><thead><tr>{header}</tr></thead><tbody>
{body}
</tbody></table>
<script>
document.querySelectorAll("th").forEach(function (th, column) {{
  th.addEventListener("click", function () {{
    var body = th.closest("table").tBodies[0];
    var rows = Array.from(body.rows);
    var up = th.dataset.order !== "up";
    th.dataset.order = up ? "up" : "down";
    var key = function (row) {{
      var cell = row.cells[column];
      return th.classList.contains("num")
        ? (cell.dataset.value === "" ? NaN : parseFloat(cell.dataset.value))
        : cell.textContent;
    }};
    rows.sort(function (a, b) {{
      var x = key(a), y = key(b);
      if (typeof x === "number") {{
        if (isNaN(x)) return isNaN(y) ? 0 : 1;
        if (isNaN(y)) return -1;
        return up ? x - y : y - x;
      }}
      return up ? x.localeCompare(y) : y.localeCompare(x);
    }});
    rows.forEach(function (row) {{ body.appendChild(row); }});
  }});
}});
</script>
</body></html>
"""
