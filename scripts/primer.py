"""The teaching examples: a line by gradient descent, a recurrent forecast."""

import torch

from varsky.classify import write_json
from varsky.logs import setup_job_logging
from varsky.primer import line_primer, train_forecaster

setup_job_logging(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
options, seed = snakemake.params.options, snakemake.params.seed
write_json(line_primer(options["line"], seed), snakemake.output.line)
write_json(train_forecaster(options["forecast"], seed), snakemake.output.forecast)
