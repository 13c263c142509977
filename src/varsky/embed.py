"""Self-supervised embeddings of folded light curves, and what they are worth.

A convolutional encoder maps each star's phase-folded light curve (the GP
posterior mean on a regular phase grid, one channel per band, see
:func:`load_resampled`) together with a few physical scalars (log period,
log amplitude per band, colours) to a fixed-length vector. It is trained
without labels by the SimCLR contrastive objective (Chen et al. 2020,
arXiv:2002.05709): two randomly augmented views of one star must be closer to
each other, in cosine similarity, than to the views of every other star of the
batch (the NT-Xent loss, :func:`nt_xent_loss`). The augmentations only change
what an observation could have changed (:func:`augment`): noise within the GP
posterior standard deviation, dropped phase bins (missing epochs), a masked
arc of phase (a seasonal gap), a shift of phase zero (the epoch of phase zero
is arbitrary) and small errors on the scalars.

The convolutions wrap around the phase circle and end in a global pooling, so
the encoder is exactly invariant to phase shifts by a multiple of its total
down-sampling factor, and nearly so to the others.

Three measurements say what the embedding is worth, each against the same
method on the hand-made features:

* :func:`few_label_scores`: macro-F1 of a logistic classifier trained on 10,
  50 or all labelled stars per class (Hayat et al. 2021, arXiv:2012.13083,
  measure their self-supervised galaxy embeddings the same way);
* :func:`embedding_map`: a two-dimensional t-SNE (van der Maaten & Hinton 2008)
  or UMAP (McInnes et al. 2018, arXiv:1802.03426) map of the embedding;
* :func:`anomaly_scores` and :func:`hidden_class_auc`: an anomaly score per
  star, and how well it ranks a class that was hidden from the encoder and the
  anomaly detector above the known classes (area under the ROC curve).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.ensemble import IsolationForest
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score, roc_auc_score
from sklearn.neighbors import NearestNeighbors
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import QuantileTransformer, StandardScaler
from torch import nn
from torch.nn import functional as F

from varsky.io import ResampledCurves, ResampledLayoutError, write_atomic
from varsky.io import load_resampled as io_load_resampled
from varsky.reproducible import seed_everything

log = logging.getLogger(__name__)

CONTEXT_CHOICES = ("log_period", "log_amplitude", "colour")


class ResampledError(ValueError):
    """A resampled-curve file that does not have the documented layout."""


# --------------------------------------------------------------------------- #
# Input: the GP stage's folded curves
# --------------------------------------------------------------------------- #
def load_resampled(path: str | Path) -> ResampledCurves:
    """Read ``results/<dataset>/gp/resampled.npz`` (see
    :func:`varsky.io.load_resampled`); a band that is not ``ok`` or holds a
    non-finite value is treated as missing.
    """
    try:
        return io_load_resampled(path)
    except ResampledLayoutError as error:
        raise ResampledError(str(error)) from None


def unusable_reasons(curves: ResampledCurves) -> np.ndarray:
    """Why a star cannot be embedded (``None`` where it can), per star."""
    reasons = np.full(len(curves), None, dtype=object)
    reasons[~(np.isfinite(curves.period) & (curves.period > 0))] = "no valid period"
    reasons[~curves.ok.any(axis=1)] = "no band with a resampled curve"
    return reasons


def context_table(curves: ResampledCurves, context: list[str]) -> np.ndarray:
    """The scalars given to the encoder beside the curve, one row per star.

    ``log_period`` is log10 of the period in days, ``log_amplitude`` log10 of
    each band's ``scale``, ``colour`` the difference of ``offset`` between
    neighbouring bands. Missing values are NaN (set to the mean later).
    """
    unknown = sorted(set(context) - set(CONTEXT_CHOICES))
    if unknown:
        raise ValueError(f"unknown context {unknown}; choose from {CONTEXT_CHOICES}")
    columns = []
    with np.errstate(divide="ignore", invalid="ignore"):
        if "log_period" in context:
            columns.append(np.log10(curves.period)[:, None])
        if "log_amplitude" in context:
            columns.append(np.where(curves.ok, np.log10(curves.scale), np.nan))
        if "colour" in context and len(curves.bands) > 1:
            offset = np.where(curves.ok, curves.offset, np.nan)
            columns.append(offset[:, :-1] - offset[:, 1:])
    if not columns:
        return np.zeros((len(curves), 0), dtype=np.float32)
    table = np.concatenate(columns, axis=1)
    return np.where(np.isfinite(table), table, np.nan).astype(np.float32)


# --------------------------------------------------------------------------- #
# The encoder
# --------------------------------------------------------------------------- #
# TODO: an encoder of the raw, unfolded sequences (with time shifts and crops
# in time as augmentations) is not written yet. It would see what folding
# hides, such as irregular or multi-periodic variability and period changes,
# and would not depend on the period found upstream.
class PhaseEncoder(nn.Module):
    """Convolutional encoder of folded curves on the phase circle.

    Input: ``curve`` (N, 2B, L), the normalised magnitudes of the B bands
    (zero where missing) followed by their 0/1 masks; ``context`` (N, C), the
    raw scalars of :func:`context_table` (NaN where missing). Each stage is two
    circular convolutions with batch normalisation and GELU, then an average
    pooling by two; the last stage ends in the mean and the maximum over phase,
    which are joined to the standardised scalars and mapped by a two-layer
    perceptron to the embedding.

    The scalars' means and standard deviations are buffers, so that the
    state dict carries everything needed to embed new stars.
    """

    def __init__(
        self,
        n_bands: int,
        n_context: int,
        channels: list[int],
        kernel_size: int,
        embedding_dim: int,
    ):
        super().__init__()
        layers: list[nn.Module] = []
        width = 2 * n_bands
        for out in channels:
            for k in range(2):
                layers += [
                    nn.Conv1d(
                        width if k == 0 else out,
                        out,
                        kernel_size,
                        padding=kernel_size // 2,
                        padding_mode="circular",
                    ),
                    nn.BatchNorm1d(out),
                    nn.GELU(),
                ]
            layers.append(nn.AvgPool1d(2))
            width = out
        self.convolutions = nn.Sequential(*layers)
        self.head = nn.Sequential(
            nn.Linear(2 * width + n_context, 2 * embedding_dim),
            nn.GELU(),
            nn.Linear(2 * embedding_dim, embedding_dim),
        )
        self.register_buffer("context_mean", torch.zeros(n_context))
        self.register_buffer("context_std", torch.ones(n_context))

    @property
    def downsampling(self) -> int:
        """Total pooling factor: phase shifts by its multiples change nothing."""
        return 2 ** sum(isinstance(m, nn.AvgPool1d) for m in self.convolutions)

    def set_context_scaling(self, context: np.ndarray) -> None:
        """Store the mean and standard deviation of each scalar (NaN ignored)."""
        if context.shape[1] == 0:
            return
        mean = np.nanmean(context, axis=0)
        std = np.nanstd(context, axis=0)
        self.context_mean.copy_(torch.as_tensor(np.nan_to_num(mean)))
        self.context_std.copy_(torch.as_tensor(np.where(std > 0, std, 1.0)))

    def forward(self, curve: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        hidden = self.convolutions(curve)
        pooled = torch.cat([hidden.mean(dim=2), hidden.amax(dim=2)], dim=1)
        scaled = (context - self.context_mean) / self.context_std
        scaled = torch.nan_to_num(scaled, nan=0.0)
        return self.head(torch.cat([pooled, scaled], dim=1))


class ProjectionHead(nn.Module):
    """The small perceptron between embedding and contrastive loss (SimCLR).

    Used only in training; the embedding is the encoder's output before it.
    """

    def __init__(self, embedding_dim: int, projection_dim: int):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(embedding_dim, embedding_dim),
            nn.ReLU(),
            nn.Linear(embedding_dim, projection_dim),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


def build_encoder(
    n_bands: int, n_context: int, params: dict, device: str = "cpu"
) -> PhaseEncoder:
    """The encoder described by the ``embed`` section of the configuration."""
    return PhaseEncoder(
        n_bands,
        n_context,
        list(params["channels"]),
        params["kernel_size"],
        params["embedding_dim"],
    ).to(device)


def nt_xent_loss(
    z1: torch.Tensor, z2: torch.Tensor, temperature: float
) -> torch.Tensor:
    """Normalised temperature-scaled cross entropy of two views (SimCLR).

    With the 2N projections normalised to unit length and
    ``s_ij = z_i · z_j / τ``, the loss of view ``i`` whose partner is ``p(i)``
    is ``-log(exp(s_ip(i)) / Σ_{k≠i} exp(s_ik))``, averaged over all 2N views
    (Chen et al. 2020, arXiv:2002.05709, eq. 1).
    """
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    n = len(z1)
    similarity = z @ z.T / temperature
    similarity.fill_diagonal_(float("-inf"))
    partner = torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(z.device)
    return F.cross_entropy(similarity, partner)


# --------------------------------------------------------------------------- #
# Augmentations
# --------------------------------------------------------------------------- #
def augment(
    mean: torch.Tensor,
    std: torch.Tensor,
    mask: torch.Tensor,
    context: torch.Tensor,
    params: dict,
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One random view of a batch of folded curves; returns the encoder inputs.

    ``mean``, ``std`` and ``mask`` are (N, B, L), ``context`` (N, C). In order:

    * noise: ``mean + noise_scale · std · ε`` with ε standard normal, a draw
      within the posterior uncertainty of each phase bin;
    * phase shift: all bands of a star rolled by one random number of bins,
      since the epoch of phase zero carries no information;
    * dropped epochs: each bin of each band masked with probability
      ``drop_fraction``;
    * crop: an arc of up to ``crop_fraction`` of the cycle masked in every
      band, as a seasonal gap leaves part of the phase unobserved;
    * context noise: ``context_noise`` dex of Gaussian noise on the scalars.
    """
    n, _, n_phase = mean.shape
    device = mean.device

    def uniform(*shape):
        return torch.rand(*shape, generator=generator).to(device)

    def normal(*shape):
        return torch.randn(*shape, generator=generator).to(device)

    values = mean + params["noise_scale"] * std * normal(*mean.shape)
    mask = mask.clone()

    if params["phase_shift"]:
        shift = (uniform(n) * n_phase).long()
        index = (
            torch.arange(n_phase, device=device)[None, :] + shift[:, None]
        ) % n_phase
        index = index[:, None, :].expand_as(values)
        values = values.gather(2, index)
        mask = mask.gather(2, index)

    if params["drop_fraction"] > 0:
        mask = mask * (uniform(*mask.shape) >= params["drop_fraction"])

    if params["crop_fraction"] > 0:
        length = (uniform(n) * params["crop_fraction"] * n_phase).long()
        start = (uniform(n) * n_phase).long()
        offset = (
            torch.arange(n_phase, device=device)[None, :] - start[:, None]
        ) % n_phase
        mask = mask * (offset >= length[:, None])[:, None, :]

    context = context + params["context_noise"] * normal(*context.shape)
    return encoder_input(values, mask), context


def encoder_input(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Curves zeroed where masked, followed by the masks: (N, 2B, L)."""
    return torch.cat([values * mask, mask], dim=1)


def _tensors(curves: ResampledCurves, context: np.ndarray, device: str):
    ok = curves.ok[:, :, None]
    mean = np.where(ok, curves.mean, 0.0).astype(np.float32)
    std = np.where(ok, curves.std, 0.0).astype(np.float32)
    mask = np.broadcast_to(ok, mean.shape).astype(np.float32)
    return (
        torch.as_tensor(mean, device=device),
        torch.as_tensor(std, device=device),
        torch.as_tensor(mask, device=device),
        torch.as_tensor(context, device=device),
    )


# --------------------------------------------------------------------------- #
# Training and inference
# --------------------------------------------------------------------------- #
def default_device() -> str:
    """``cuda`` where a GPU is present, else ``cpu``."""
    return "cuda" if torch.cuda.is_available() else "cpu"


def train_encoder(
    curves: ResampledCurves,
    params: dict,
    seed: int,
    threads: int = 1,
    device: str | None = None,
) -> tuple[PhaseEncoder, pd.DataFrame]:
    """Train the encoder on every usable star of ``curves``, without labels.

    Adam with weight decay minimises :func:`nt_xent_loss` over mini-batches
    of ``batch_size`` stars for ``epochs`` passes; the batch order, the
    weights and the augmentations are drawn from ``seed``. Returns the encoder
    in evaluation mode and the loss per epoch.
    """
    device = device or default_device()
    torch.set_num_threads(threads)
    generator = seed_everything(seed)
    rng = np.random.default_rng(seed)

    usable = unusable_reasons(curves) == None  # noqa: E711 (object array)
    curves = curves.subset(usable)
    context = context_table(curves, params["context"])
    mean, std, mask, ctx = _tensors(curves, context, device)
    encoder = build_encoder(len(curves.bands), context.shape[1], params, device)
    encoder.set_context_scaling(context)
    head = ProjectionHead(params["embedding_dim"], params["projection_dim"]).to(device)
    optimiser = torch.optim.AdamW(
        [*encoder.parameters(), *head.parameters()],
        lr=params["learning_rate"],
        weight_decay=params["weight_decay"],
    )
    batch = min(params["batch_size"], len(curves))
    if batch < 2:
        raise ValueError(f"contrastive training needs 2 stars or more, got {batch}")

    history = []
    encoder.train()
    head.train()
    for epoch in range(params["epochs"]):
        started = time.perf_counter()
        order = rng.permutation(len(curves))
        losses = []
        # Drop a last batch smaller than two stars: it has no negatives.
        for first in range(0, len(order) - 1, batch):
            rows = torch.as_tensor(order[first : first + batch], device=device)
            if len(rows) < 2:
                continue
            views = [
                augment(
                    mean[rows],
                    std[rows],
                    mask[rows],
                    ctx[rows],
                    params["augment"],
                    generator,
                )
                for _ in range(2)
            ]
            z1, z2 = (head(encoder(*view)) for view in views)
            loss = nt_xent_loss(z1, z2, params["temperature"])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            losses.append(loss.item())
        history.append(
            {
                "epoch": epoch + 1,
                "loss": float(np.mean(losses)),
                "seconds": time.perf_counter() - started,
            }
        )
        log.info(
            "epoch %d/%d: contrastive loss %.4f, %.1f s",
            epoch + 1,
            params["epochs"],
            history[-1]["loss"],
            history[-1]["seconds"],
        )
    encoder.eval()
    return encoder, pd.DataFrame(history)


@torch.no_grad()
def embed(
    encoder: PhaseEncoder, curves: ResampledCurves, params: dict, batch_size: int = 1024
) -> pd.DataFrame:
    """The embedding of every star: ``source_id``, ``reason``, ``emb_000``...

    Stars that cannot be embedded keep their row, with NaN values and the
    reason in ``reason``.
    """
    started = time.perf_counter()
    encoder.eval()
    device = next(encoder.parameters()).device
    reasons = unusable_reasons(curves)
    usable = reasons == None  # noqa: E711 (object array)
    context = context_table(curves, params["context"])
    dim = params["embedding_dim"]
    vectors = np.full((len(curves), dim), np.nan, dtype=np.float32)
    mean, _, mask, ctx = _tensors(
        curves.subset(usable), context[usable], device=str(device)
    )
    parts = [
        encoder(
            encoder_input(mean[i : i + batch_size], mask[i : i + batch_size]),
            ctx[i : i + batch_size],
        ).cpu()
        for i in range(0, len(mean), batch_size)
    ]
    if parts:
        vectors[usable] = torch.cat(parts).numpy()
    for reason, count in pd.Series(reasons[~usable]).value_counts().items():
        log.warning("%d stars not embedded: %s", count, reason)
    log.info(
        "embedded %d of %d stars in %.1f s",
        usable.sum(),
        len(curves),
        time.perf_counter() - started,
    )
    table = pd.DataFrame(vectors, columns=embedding_columns(dim))
    table.insert(0, "reason", pd.Series(reasons, dtype="string"))
    table.insert(0, "source_id", curves.source_id)
    return table


def embedding_columns(dim: int) -> list[str]:
    """Column names of an embedding of ``dim`` dimensions."""
    return [f"emb_{i:03d}" for i in range(dim)]


def embedding_matrix(table: pd.DataFrame) -> pd.DataFrame:
    """The embedded stars of an embedding table, indexed by ``source_id``."""
    columns = [c for c in table.columns if c.startswith("emb_")]
    return representation_matrix(table[table["reason"].isna()], columns)


def save_encoder(encoder: PhaseEncoder, path: str | Path) -> None:
    """Save the encoder's state dict (weights and scalar scaling), atomically."""
    write_atomic(path, lambda tmp: torch.save(encoder.state_dict(), tmp))


def load_encoder(
    path: str | Path, n_bands: int, n_context: int, params: dict
) -> PhaseEncoder:
    """Rebuild the encoder of ``params`` and load its saved state dict."""
    encoder = build_encoder(n_bands, n_context, params, device="cpu")
    encoder.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return encoder.eval()


# --------------------------------------------------------------------------- #
# Representations compared: the embedding and the hand-made features
# --------------------------------------------------------------------------- #
def representation_matrix(table: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Numeric matrix indexed by ``source_id``; infinities become NaN."""
    matrix = table.set_index("source_id")[columns].astype(float)
    return matrix.replace([np.inf, -np.inf], np.nan)


def preprocess(matrix: pd.DataFrame) -> np.ndarray:
    """Median imputation, then a quantile map to a standard normal per column.

    The same label-free map is applied to the embedding and to the features,
    so that both meet the classifiers and detectors on equal terms (heavy
    tails of periods and amplitudes would otherwise dominate the features).
    It is fitted on all stars, as the encoder is.
    """
    pipeline = make_pipeline(
        SimpleImputer(strategy="median", keep_empty_features=True),
        QuantileTransformer(
            n_quantiles=min(1000, len(matrix)), output_distribution="normal"
        ),
        StandardScaler(),
    )
    return pipeline.fit_transform(matrix.to_numpy())


# --------------------------------------------------------------------------- #
# Few-label classification
# --------------------------------------------------------------------------- #
def sample_per_class(
    classes: np.ndarray, per_class: int | None, rng: np.random.Generator
) -> np.ndarray:
    """Indices of ``per_class`` random stars of each class (all where None).

    A class with fewer stars contributes all of them.
    """
    chosen = []
    for name in np.unique(classes):
        members = np.flatnonzero(classes == name)
        if per_class is None or per_class >= len(members):
            chosen.append(members)
        else:
            chosen.append(rng.choice(members, per_class, replace=False))
    return np.sort(np.concatenate(chosen))


def few_label_scores(
    representations: dict[str, pd.DataFrame],
    labels: pd.DataFrame,
    params: dict,
    seed: int,
) -> pd.DataFrame:
    """Test-split macro-F1 of a logistic classifier trained on few labels.

    For each representation (name to matrix indexed by ``source_id``) and each
    number of labels per class in ``params["labels_per_class"]`` (``None``:
    all), a multinomial logistic regression with inverse regularisation ``C``
    and class-balanced weights is trained on that many random stars of each
    class of the train split and scored on the whole test split. Each draw
    is repeated ``repeats`` times; the same draws serve every representation.
    Only stars present in every representation take part.
    """
    common = set.intersection(*(set(m.index) for m in representations.values()))
    data = labels[labels["source_id"].isin(common)].reset_index(drop=True)
    ids = data["source_id"].to_numpy()
    train = np.flatnonzero(data["split"].to_numpy() == "train")
    test = np.flatnonzero(data["split"].to_numpy() == "test")
    classes = data["class_name"].to_numpy()
    matrices = {
        name: preprocess(matrix.loc[ids]) for name, matrix in representations.items()
    }
    rows = []
    for per_class in params["labels_per_class"]:
        repeats = 1 if per_class is None else params["repeats"]
        for repeat in range(repeats):
            rng = np.random.default_rng([seed, repeat, per_class or 0])
            fit = train[sample_per_class(classes[train], per_class, rng)]
            for name, x in matrices.items():
                model = LogisticRegression(
                    C=params["C"], max_iter=params["max_iter"], class_weight="balanced"
                )
                model.fit(x[fit], classes[fit])
                rows.append(
                    {
                        "representation": name,
                        "labels_per_class": "all" if per_class is None else per_class,
                        "repeat": repeat,
                        "n_train": len(fit),
                        "n_test": len(test),
                        "macro_f1": f1_score(
                            classes[test], model.predict(x[test]), average="macro"
                        ),
                    }
                )
    table = pd.DataFrame(rows)
    table["labels_per_class"] = table["labels_per_class"].astype(str)
    for (name, per_class), group in table.groupby(
        ["representation", "labels_per_class"], sort=False
    ):
        log.info(
            "%s, %s labels per class: macro-F1 %.3f ± %.3f over %d draws",
            name,
            per_class,
            group["macro_f1"].mean(),
            group["macro_f1"].std(ddof=0),
            len(group),
        )
    return table


# --------------------------------------------------------------------------- #
# Two-dimensional map
# --------------------------------------------------------------------------- #
def embedding_map(matrix: pd.DataFrame, params: dict, seed: int) -> pd.DataFrame:
    """A two-dimensional map of the embedding: ``source_id``, ``x``, ``y``.

    ``method`` ``tsne`` (van der Maaten & Hinton 2008, JMLR 9, 2579) with the
    configured perplexity, on the standardised embedding; or ``umap``
    (McInnes et al. 2018, arXiv:1802.03426) with ``n_neighbors`` set to the
    perplexity, where the ``umap-learn`` package is installed.
    """
    x = StandardScaler().fit_transform(matrix.to_numpy())
    perplexity = min(params["perplexity"], max(1.0, (len(x) - 1) / 3))
    if params["method"] == "umap":
        import umap  # optional: only where the user installed umap-learn

        reducer = umap.UMAP(n_neighbors=int(perplexity), random_state=seed)
    else:
        from sklearn.manifold import TSNE

        reducer = TSNE(perplexity=perplexity, init="pca", random_state=seed)
    xy = reducer.fit_transform(x)
    return pd.DataFrame({"source_id": matrix.index, "x": xy[:, 0], "y": xy[:, 1]})


# --------------------------------------------------------------------------- #
# Anomalies
# --------------------------------------------------------------------------- #
def knn_distance(reference: np.ndarray, query: np.ndarray, k: int) -> np.ndarray:
    """Distance from each query point to its ``k``-th nearest reference point.

    Pass ``query is reference`` to leave each point out of its own neighbours.
    A large distance marks a star in an empty region of the space (Ramaswamy
    et al. 2000, doi:10.1145/335191.335437).
    """
    self_query = query is reference
    k_eff = min(k + int(self_query), len(reference))
    distances, _ = NearestNeighbors(n_neighbors=k_eff).fit(reference).kneighbors(query)
    return distances[:, -1]


def anomaly_detector_scores(
    reference: np.ndarray,
    query: np.ndarray | None,
    params: dict,
    seed: int,
) -> np.ndarray:
    """Anomaly score of each query star against a reference set (higher: odder).

    ``method`` ``knn``: distance to the ``k``-th nearest reference star
    (:func:`knn_distance`); ``isolation_forest``: the negated score of an
    isolation forest (Liu, Ting & Zhou 2008, doi:10.1109/ICDM.2008.17) of
    ``n_estimators`` trees fitted on the reference. With ``query`` None the
    reference stars are scored, each left out of its own neighbours.
    """
    if params["method"] == "knn":
        return knn_distance(
            reference, reference if query is None else query, params["k"]
        )
    forest = IsolationForest(n_estimators=params["n_estimators"], random_state=seed)
    forest.fit(reference)
    return -forest.score_samples(reference if query is None else query)


def anomaly_scores(matrix: pd.DataFrame, params: dict, seed: int) -> pd.DataFrame:
    """Anomaly score and rank (1: most anomalous) of every star.

    The representation is preprocessed as in :func:`preprocess` and every
    star is scored against all the others.
    """
    score = anomaly_detector_scores(preprocess(matrix), None, params, seed)
    table = pd.DataFrame({"source_id": matrix.index, "anomaly_score": score})
    table["rank"] = table["anomaly_score"].rank(ascending=False, method="first")
    table["rank"] = table["rank"].astype(int)
    return table.sort_values("rank", ignore_index=True)


def hidden_class_split(
    labels: pd.DataFrame, hidden: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stars of the hidden-class protocol, as ``source_id`` arrays.

    ``train``: the known-class stars of the train split, the only stars that
    the encoder is retrained on and the anomaly detector is fitted to.
    ``scored``: the known-class stars of the test split and every star of
    the hidden class, which nothing has seen before the scoring; ``is_hidden``
    says which of them belong to the hidden class.
    """
    if hidden not in set(labels["class_name"]):
        raise ValueError(
            f"hidden class {hidden!r} is not among the labelled classes "
            f"{sorted(set(labels['class_name']))}"
        )
    is_hidden = (labels["class_name"] == hidden).to_numpy()
    in_train = (labels["split"] == "train").to_numpy()
    ids = labels["source_id"].to_numpy()
    scored = is_hidden | ~in_train
    return ids[~is_hidden & in_train], ids[scored], is_hidden[scored]


def hidden_class_auc(
    matrix: pd.DataFrame,
    train_ids: np.ndarray,
    scored_ids: np.ndarray,
    is_hidden: np.ndarray,
    params: dict,
    seed: int,
) -> float:
    """Area under the ROC curve for ranking the hidden class above the known.

    The imputation and quantile map of :func:`preprocess` and the anomaly
    detector are fitted on the ``train_ids`` stars only (known classes); the
    ``scored_ids`` stars are then scored, and the AUC is the probability that
    a random hidden-class star scores above a random known-class one
    (0.5: no better than chance).
    """
    pipeline = make_pipeline(
        SimpleImputer(strategy="median", keep_empty_features=True),
        QuantileTransformer(
            n_quantiles=min(1000, len(train_ids)), output_distribution="normal"
        ),
        StandardScaler(),
    )
    reference = pipeline.fit_transform(matrix.loc[train_ids].to_numpy())
    query = pipeline.transform(matrix.loc[scored_ids].to_numpy())
    score = anomaly_detector_scores(reference, query, params, seed)
    return float(roc_auc_score(is_hidden, score))


def hidden_class_evaluation(
    curves: ResampledCurves,
    embedding: pd.DataFrame,
    features: pd.DataFrame,
    feature_names: list[str],
    labels: pd.DataFrame,
    hidden: str,
    params: dict,
    anomaly: dict,
    retrain_encoder: bool,
    seed: int,
    threads: int = 1,
) -> pd.DataFrame:
    """ROC AUC of the anomaly score for one hidden class, embedding and features.

    The protocol (:func:`hidden_class_split`) keeps the hidden class out of
    everything but the final scoring. The encoder never sees labels, yet an
    encoder trained on all stars has learnt the hidden class's shapes, which
    would flatter the embedding; so with ``hidden_class.retrain_encoder`` the
    encoder is retrained, with the same training ``params`` and seed, on the
    known-class stars of the train split only, and every star is embedded
    with it (``retrain_encoder``). The ``anomaly`` detector is always fitted on
    those stars only, for both representations. Only stars present in both
    representations count.
    """
    started = time.perf_counter()
    usable = embedding.loc[embedding["reason"].isna(), "source_id"]
    common = set(usable) & set(features["source_id"])
    labels = labels[labels["source_id"].isin(common)].reset_index(drop=True)
    train_ids, scored_ids, is_hidden = hidden_class_split(labels, hidden)
    if retrain_encoder:
        known = np.isin(curves.source_id, train_ids)
        encoder, _ = train_encoder(curves.subset(known), params, seed, threads)
        embedding = embed(encoder, curves, params, params["inference_batch_size"])
    matrices = {
        "embedding": embedding_matrix(embedding),
        "features": representation_matrix(features, feature_names),
    }
    rows = [
        {
            "hidden_class": hidden,
            "representation": name,
            "auc": hidden_class_auc(
                matrix, train_ids, scored_ids, is_hidden, anomaly, seed
            ),
            "n_reference": len(train_ids),
            "n_scored_known": int((~is_hidden).sum()),
            "n_scored_hidden": int(is_hidden.sum()),
            "encoder_retrained": retrain_encoder,
        }
        for name, matrix in matrices.items()
    ]
    log.info(
        "hidden %s: AUC embedding %.3f, features %.3f (%d reference, %d scored); "
        "%.1f s",
        hidden,
        rows[0]["auc"],
        rows[1]["auc"],
        len(train_ids),
        len(scored_ids),
        time.perf_counter() - started,
    )
    return pd.DataFrame(rows)
