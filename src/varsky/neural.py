"""Neural-network classifiers of variable stars (PyTorch).

Two learning machines that go into the protocol of :mod:`varsky.classify`:

- :class:`FeatureMLP`, a multilayer perceptron on the feature table, after a
  robust scaling fitted on the training stars only (:class:`RobustScaler`);
- :class:`BandGRU`, a recurrent network that reads each band's raw light curve
  as a sequence of (time step, magnitude, error) and learns without hand-made
  features (in the spirit of Naul et al. 2018, Nature Astronomy 2, 151,
  doi:10.1038/s41550-017-0321-z, and Becker et al. 2020, MNRAS 493, 2981,
  doi:10.1093/mnras/staa350). Sequences of different lengths are packed
  (``torch.nn.utils.rnn.pack_padded_sequence``), so padding never enters the
  recurrence.

Both are trained with Adam (Kingma & Ba 2015, arXiv:1412.6980) on the
class-weighted cross-entropy, with dropout (Srivastava et al. 2014, JMLR 15,
1929) and early stopping on a stratified inner validation split: training
stops when the validation loss has not improved for ``patience`` epochs and
the weights of the best epoch are kept. Every generator is seeded; models run
on the GPU when one is present, else on the CPU, and are saved as state dicts.
"""

from __future__ import annotations

import copy
import logging
import time as clock

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from varsky import classify
from varsky.classify import FitPredict, inner_validation_split
from varsky.io import write_atomic
from varsky.reproducible import seed_everything

log = logging.getLogger(__name__)


def device() -> torch.device:
    """The GPU when PyTorch sees one, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def class_weights(codes: np.ndarray, n_classes: int) -> torch.Tensor:
    """Balanced class weights ``N / (K n_k)`` for the cross-entropy (0 if absent)."""
    counts = np.bincount(codes, minlength=n_classes).astype("float64")
    weights = np.where(counts > 0, len(codes) / (n_classes * np.maximum(counts, 1)), 0)
    return torch.as_tensor(weights, dtype=torch.float32)


# --------------------------------------------------------------------------- #
# Robust scaling of features
# --------------------------------------------------------------------------- #
class RobustScaler:
    """Centre on the median and divide by the interquartile range, per column.

    ``z = (x − median) / (q75 − q25)``, with the statistics of the training
    stars only; a column of constant or all-missing values keeps a unit scale.
    Missing values become 0 (the median) after scaling, and ``|z|`` is clipped
    at ``clip`` so that a single wild feature value cannot dominate a layer.
    """

    def __init__(self, clip: float = 10.0):
        self.clip = clip

    def fit(self, X: np.ndarray) -> RobustScaler:
        X = np.asarray(X, dtype="float64")
        finite = np.where(np.isfinite(X), X, np.nan)
        all_missing = np.all(np.isnan(finite), axis=0)
        finite[:, all_missing] = 0.0
        q25, q50, q75 = np.nanpercentile(finite, [25, 50, 75], axis=0)
        iqr = q75 - q25
        self.center_ = q50
        self.scale_ = np.where(iqr > 0, iqr, 1.0)
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype="float64")
        z = (X - self.center_) / self.scale_
        z = np.where(np.isfinite(z), z, 0.0)
        return np.clip(z, -self.clip, self.clip).astype("float32")


# --------------------------------------------------------------------------- #
# Models
# --------------------------------------------------------------------------- #
class FeatureMLP(nn.Module):
    """Fully connected layers with ReLU and dropout, ending in class logits."""

    def __init__(
        self, n_inputs: int, hidden: list[int], n_classes: int, dropout: float
    ):
        super().__init__()
        layers: list[nn.Module] = []
        width = n_inputs
        for units in hidden:
            layers += [nn.Linear(width, units), nn.ReLU(), nn.Dropout(dropout)]
            width = units
        layers.append(nn.Linear(width, n_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class BandGRU(nn.Module):
    """One GRU per band over its packed sequence; the last states are classified.

    Input of band ``b``: a padded tensor ``(stars, steps, 3)`` and the true
    length of each star's sequence. The final hidden states of all bands and
    a 0/1 "band observed" flag per band are concatenated and passed through a
    dropout and a linear layer to the class logits.
    """

    def __init__(
        self,
        n_bands: int,
        hidden: int,
        layers: int,
        n_classes: int,
        dropout: float,
        n_inputs: int = 3,
    ):
        super().__init__()
        self.grus = nn.ModuleList(
            nn.GRU(
                n_inputs,
                hidden,
                num_layers=layers,
                batch_first=True,
                dropout=dropout if layers > 1 else 0.0,
            )
            for _ in range(n_bands)
        )
        self.head = nn.Sequential(
            nn.Dropout(dropout), nn.Linear(n_bands * (hidden + 1), n_classes)
        )

    def forward(self, sequences: list[torch.Tensor], lengths: torch.Tensor):
        states = []
        for b, gru in enumerate(self.grus):
            observed = lengths[:, b] > 0
            packed = pack_padded_sequence(
                sequences[b],
                lengths[:, b].clamp(min=1).cpu(),
                batch_first=True,
                enforce_sorted=False,
            )
            _, last = gru(packed)
            states += [last[-1] * observed[:, None], observed[:, None].float()]
        return self.head(torch.cat(states, dim=1))


# --------------------------------------------------------------------------- #
# Sequences from tidy light curves
# --------------------------------------------------------------------------- #
def band_sequences(
    lightcurves: pd.DataFrame, bands: list[str], max_length: int
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Per star and band, the raw sequence of (Δt, magnitude, error).

    For the ``n`` observations of a band sorted in time, step ``i`` holds
    ``log10(1 + t_i − t_{i−1})`` (0 for the first point; days), the magnitude
    and its error. Only rows with ``flags == 0`` are used; a band with more than
    ``max_length`` points keeps its first ``max_length``.

    Returns
    -------
    source_ids : list of str
        The stars, in order of first appearance.
    values : numpy.ndarray
        ``(stars, bands, max_length, 3)`` float32, zero-padded.
    lengths : numpy.ndarray
        ``(stars, bands)`` int64, the number of steps (0: band not observed).
    """
    good = lightcurves[lightcurves["flags"] == 0]
    source_ids = list(pd.unique(lightcurves["source_id"].astype(str)))
    star_index = {s: i for i, s in enumerate(source_ids)}
    band_index = {b: i for i, b in enumerate(bands)}
    values = np.zeros((len(source_ids), len(bands), max_length, 3), dtype="float32")
    lengths = np.zeros((len(source_ids), len(bands)), dtype="int64")
    good = good[good["band"].astype(str).isin(band_index)]
    ordered = good.sort_values(["source_id", "band", "time"], kind="stable")
    for (star, band), rows in ordered.groupby(["source_id", "band"], sort=False):
        time = rows["time"].to_numpy(dtype="float64")[:max_length]
        steps = np.log10(1.0 + np.diff(time, prepend=time[0]))
        i, b, n = star_index[str(star)], band_index[str(band)], time.size
        values[i, b, :n, 0] = steps
        values[i, b, :n, 1] = rows["mag"].to_numpy(dtype="float64")[:max_length]
        values[i, b, :n, 2] = rows["mag_err"].to_numpy(dtype="float64")[:max_length]
        lengths[i, b] = n
    return source_ids, values, lengths


class SequenceScaler:
    """Standardise magnitudes and errors with the statistics of training stars.

    ``m' = (m − μ_b) / σ_b`` and ``e' = e / σ_b`` with the mean ``μ_b`` and
    standard deviation ``σ_b`` of all training magnitudes of band ``b``; the
    time steps are left as they are. The level of each band (and so the
    colour) stays in the sequence.
    """

    def fit(self, values: np.ndarray, lengths: np.ndarray) -> SequenceScaler:
        n_bands = values.shape[1]
        self.mean_ = np.zeros(n_bands)
        self.std_ = np.ones(n_bands)
        for b in range(n_bands):
            mask = np.arange(values.shape[2])[None, :] < lengths[:, b, None]
            mags = values[:, b, :, 1][mask]
            if mags.size > 1:
                self.mean_[b] = mags.mean()
                self.std_[b] = mags.std() or 1.0
        return self

    def transform(self, values: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        out = values.copy()
        for b in range(values.shape[1]):
            mask = np.arange(values.shape[2])[None, :] < lengths[:, b, None]
            out[:, b, :, 1] = np.where(mask, (values[:, b, :, 1] - self.mean_[b]), 0)
            out[:, b, :, 1] /= self.std_[b]
            out[:, b, :, 2] /= self.std_[b]
        return out


# --------------------------------------------------------------------------- #
# Training
# --------------------------------------------------------------------------- #
def train_network(
    model: nn.Module,
    inputs: list[torch.Tensor],
    codes: np.ndarray,
    n_classes: int,
    options: dict,
    seed: int,
    forward,
) -> tuple[nn.Module, dict]:
    """Train ``model`` with Adam and early stopping on an inner validation split.

    ``inputs`` are tensors whose first axis runs over stars; ``forward(model,
    batch_inputs)`` returns logits. ``options``: ``learning_rate``,
    ``weight_decay``, ``batch_size``, ``max_epochs``, ``patience``,
    ``validation_fraction``. Returns the model with the weights of the epoch
    of lowest validation loss and the training history.
    """
    started = clock.perf_counter()
    generator = seed_everything(seed)
    run_on = device()
    model = model.to(run_on)
    fit, val = inner_validation_split(codes, options["validation_fraction"], seed)
    y = torch.tensor(np.asarray(codes), dtype=torch.long)
    loss_fn = nn.CrossEntropyLoss(
        weight=class_weights(codes[fit], n_classes).to(run_on)
    )
    optimiser = torch.optim.Adam(
        model.parameters(),
        lr=options["learning_rate"],
        weight_decay=options["weight_decay"],
    )

    def on_device(index):
        return [t[index].to(run_on) for t in inputs], y[index].to(run_on)

    val_inputs, val_y = on_device(torch.as_tensor(val))
    best, best_loss, waited = copy.deepcopy(model.state_dict()), np.inf, 0
    history = {"train_loss": [], "validation_loss": []}
    fit_index = torch.as_tensor(fit)
    for _epoch in range(options["max_epochs"]):
        model.train()
        order = fit_index[torch.randperm(len(fit_index), generator=generator)]
        total = 0.0
        for start in range(0, len(order), options["batch_size"]):
            batch_inputs, batch_y = on_device(
                order[start : start + options["batch_size"]]
            )
            optimiser.zero_grad()
            loss = loss_fn(forward(model, batch_inputs), batch_y)
            loss.backward()
            optimiser.step()
            total += float(loss.detach()) * len(batch_y)
        model.eval()
        with torch.no_grad():
            val_loss = float(loss_fn(forward(model, val_inputs), val_y))
        history["train_loss"].append(total / len(order))
        history["validation_loss"].append(val_loss)
        if val_loss < best_loss - 1e-6:
            best, best_loss, waited = copy.deepcopy(model.state_dict()), val_loss, 0
        else:
            waited += 1
            if waited >= options["patience"]:
                break
    model.load_state_dict(best)
    history["best_epoch"] = int(np.argmin(history["validation_loss"]))
    log.info(
        "%s: %d epochs on %d stars, best validation loss %.4f at epoch %d, %.1f s",
        type(model).__name__,
        len(history["train_loss"]),
        len(fit),
        best_loss,
        history["best_epoch"],
        clock.perf_counter() - started,
    )
    return model, history


def predict_probabilities(
    model: nn.Module, inputs: list[torch.Tensor], forward, batch_size: int = 1024
) -> np.ndarray:
    """Softmax class probabilities, in batches, on the model's device."""
    run_on = next(model.parameters()).device
    model.eval()
    parts = []
    with torch.no_grad():
        for start in range(0, len(inputs[0]), batch_size):
            batch = [t[start : start + batch_size].to(run_on) for t in inputs]
            parts.append(torch.softmax(forward(model, batch), dim=1).cpu().numpy())
    return np.concatenate(parts).astype("float64")


def mlp_forward(model: FeatureMLP, batch: list[torch.Tensor]) -> torch.Tensor:
    """Logits of :class:`FeatureMLP` for a batch ``[features]``."""
    return model(batch[0])


def gru_forward(model: BandGRU, batch: list[torch.Tensor]) -> torch.Tensor:
    """Logits of :class:`BandGRU` for a batch ``[band_1, …, band_n, lengths]``."""
    sequences, lengths = batch[:-1], batch[-1]
    return model(sequences, lengths)


def mlp_fit_predict(
    columns: list[str],
    options: dict,
    seed: int,
    n_classes: int,
    keep: dict | None = None,
) -> FitPredict:
    """A :data:`FitPredict` for :class:`FeatureMLP` on the given columns.

    The :class:`RobustScaler` is fitted on the stars it trains on. When
    ``keep`` is a dict, the last trained model, its scaler and its history are
    stored in it.
    """

    def fit_predict(train, codes, predict):
        scaler = RobustScaler(options["clip"]).fit(train[columns].to_numpy())
        X = torch.as_tensor(scaler.transform(train[columns].to_numpy()))
        seed_everything(seed)
        model = FeatureMLP(
            len(columns), options["hidden_units"], n_classes, options["dropout"]
        )
        model, history = train_network(
            model, [X], codes, n_classes, options, seed, mlp_forward
        )
        if keep is not None:
            keep.update(model=model, scaler=scaler, history=history)
        X_new = torch.as_tensor(scaler.transform(predict[columns].to_numpy()))
        return predict_probabilities(model, [X_new], mlp_forward)

    return fit_predict


def gru_fit_predict(
    sequences: dict,
    options: dict,
    seed: int,
    n_classes: int,
    keep: dict | None = None,
) -> FitPredict:
    """A :data:`FitPredict` for :class:`BandGRU` on raw band sequences.

    ``sequences`` holds ``source_ids``, ``values`` and ``lengths`` from
    :func:`band_sequences`; the stars to fit and predict are looked up by
    ``source_id``. The :class:`SequenceScaler` is fitted on the stars trained on.
    """
    row = {s: i for i, s in enumerate(sequences["source_ids"])}
    values, lengths = sequences["values"], sequences["lengths"]

    def tensors(stars, scaler):
        index = np.array([row[s] for s in stars])
        scaled = scaler.transform(values[index], lengths[index])
        per_band = [torch.as_tensor(scaled[:, b]) for b in range(values.shape[1])]
        return [*per_band, torch.as_tensor(lengths[index])]

    def fit_predict(train, codes, predict):
        index = np.array([row[s] for s in train["source_id"]])
        scaler = SequenceScaler().fit(values[index], lengths[index])
        seed_everything(seed)
        model = BandGRU(
            values.shape[1],
            options["hidden_units"],
            options["layers"],
            n_classes,
            options["dropout"],
        )
        model, history = train_network(
            model,
            tensors(train["source_id"], scaler),
            codes,
            n_classes,
            options,
            seed,
            gru_forward,
        )
        if keep is not None:
            keep.update(model=model, scaler=scaler, history=history)
        return predict_probabilities(
            model, tensors(predict["source_id"], scaler), gru_forward
        )

    return fit_predict


def log_time(name: str, started: float, n_stars: int) -> None:
    """One log line with a model's stars and seconds."""
    log.info("%s: %d stars, %.1f s", name, n_stars, clock.perf_counter() - started)


# --------------------------------------------------------------------------- #
# The protocol for each network
# --------------------------------------------------------------------------- #
def classify_mlp(
    features: pd.DataFrame,
    labels: pd.DataFrame,
    folds: pd.DataFrame,
    options: dict,
    seed: int,
    threads: int = 1,
    known_classes: list[str] | None = None,
) -> tuple[dict, dict, pd.DataFrame]:
    """Cross-validate :class:`FeatureMLP` on the feature table, then train it on
    every training star.

    ``options`` is the ``classify`` section of the config (``mlp``,
    ``validation_fraction``, ``derived_features``, ``calibration_bins``).
    Returns the final model's state dict (with the scaler's statistics, the
    columns and the classes under ``"varsky."`` keys), the metrics of
    :func:`varsky.classify.cross_validate` and the predictions.
    """
    started = clock.perf_counter()
    torch.set_num_threads(max(int(threads), 1))
    classify.check_labels(labels, known_classes)
    data, columns, classes, lost = classify.prepare_features(
        features, labels, options["derived_features"]
    )
    settings = {**options["mlp"], "validation_fraction": options["validation_fraction"]}
    final: dict = {}
    metrics, predictions = classify.cross_validate(
        mlp_fit_predict(columns, settings, seed, len(classes), keep=final),
        data,
        folds,
        classes,
        model_name="mlp",
        calibration_bins=options["calibration_bins"],
        calibration=options.get("calibration"),
    )
    metrics.update(
        n_features=len(columns),
        stars_without_features=lost,
        device=str(device()),
        history=final["history"],
    )
    state = final["model"].state_dict()
    state["varsky.center"] = torch.as_tensor(final["scaler"].center_)
    state["varsky.scale"] = torch.as_tensor(final["scaler"].scale_)
    metrics["columns"] = columns
    log_time("mlp", started, len(data))
    return (
        {"state": state, "columns": columns, "classes": classes},
        metrics,
        predictions,
    )


def classify_gru(
    lightcurves: pd.DataFrame,
    labels: pd.DataFrame,
    folds: pd.DataFrame,
    bands: list[str],
    options: dict,
    seed: int,
    threads: int = 1,
    known_classes: list[str] | None = None,
) -> tuple[dict, dict, pd.DataFrame]:
    """Cross-validate :class:`BandGRU` on raw light curves, then train it on
    every training star.

    Labelled stars with no observation left in any band are reported in the
    metrics (``stars_without_light_curve``) and in the log, not classified.
    Returns the final model (state dict, classes, bands), the metrics of
    :func:`varsky.classify.cross_validate` and the predictions.
    """
    started = clock.perf_counter()
    torch.set_num_threads(max(int(threads), 1))
    classify.check_labels(labels, known_classes)
    settings = {**options["rnn"], "validation_fraction": options["validation_fraction"]}
    source_ids, values, lengths = band_sequences(
        lightcurves, bands, settings["max_length"]
    )
    observed = {s for s, n in zip(source_ids, lengths.sum(axis=1), strict=True) if n}
    data = labels[labels["source_id"].astype(str).isin(observed)].reset_index(drop=True)
    lost = sorted(set(labels["source_id"].astype(str)) - observed)
    if lost:
        log.warning(
            "%d labelled stars have no light curve left and are not classified: %s",
            len(lost),
            ", ".join(lost[:20]),
        )
    classes = sorted(labels["class_name"].unique())
    sequences = {"source_ids": source_ids, "values": values, "lengths": lengths}
    final: dict = {}
    metrics, predictions = classify.cross_validate(
        gru_fit_predict(sequences, settings, seed, len(classes), keep=final),
        data,
        folds,
        classes,
        model_name="rnn",
        calibration_bins=options["calibration_bins"],
        calibration=options.get("calibration"),
    )
    metrics.update(
        bands=bands,
        stars_without_light_curve=lost,
        device=str(device()),
        history=final["history"],
    )
    state = final["model"].state_dict()
    state["varsky.mag_mean"] = torch.as_tensor(final["scaler"].mean_)
    state["varsky.mag_std"] = torch.as_tensor(final["scaler"].std_)
    log_time("rnn", started, len(data))
    return {"state": state, "classes": classes, "bands": bands}, metrics, predictions


def save_state(model: dict, path) -> None:
    """Save a model's state dict atomically.

    Only tensors are stored, so ``torch.load(path, weights_only=True)`` reads
    it back; the class names, feature columns and bands go into the metrics.
    """
    write_atomic(path, lambda tmp: torch.save(model["state"], tmp))
