"""One teaching figure: the line fit or the recurrent forecast."""

import json
from pathlib import Path

from varsky import plots
from varsky.logs import setup_job_logging

setup_job_logging(snakemake.log[0])
plots.use_style(snakemake.params.font_size)
result = json.loads(Path(snakemake.input[0]).read_text())
draw = {"line_fit": plots.plot_line_primer, "forecast": plots.plot_forecast_primer}
fig = draw[snakemake.wildcards.example](result)
plots.save_figure(fig, snakemake.output.png, dpi=snakemake.params.dpi)
