"""Figures of the toy validation: measured vs theory curves, the depth profile, rich → lazy, final distance."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from repdyn.figures.canvas import FONT_SIZE, new_figure, save_figure

from .toy import ToyRecord
from .toy_validation import FinalDistance, LayerFit, theory_curves


def plot_trajectories(record: ToyRecord, fit: LayerFit, path: str | os.PathLike) -> None:
    """H, Y, W over epochs: the run (solid) and the fitted theory from the same initial state (dashed)."""
    fig = new_figure(7.5, 2.4)
    axes = fig.subplots(1, 3)
    model = theory_curves(record, fit)
    measured = (record.H[:, fit.layer], record.Y, record.W)
    for k, (ax, name) in enumerate(zip(axes, ("H = ‖dh‖²", "Y = ‖dy‖²", "W = ⟨dy, dy − dy*⟩"))):
        ax.plot(record.epochs, measured[k], color="k", lw=1.5, label="network")
        ax.plot(record.epochs, model[:, k], color="C3", lw=1.2, ls="--", label="theory (fitted)")
        ax.set_title(name, fontsize=FONT_SIZE)
        ax.set_xlabel("epoch", fontsize=FONT_SIZE)
        ax.tick_params(labelsize=FONT_SIZE - 1)
    axes[0].legend(fontsize=FONT_SIZE - 1)
    fig.suptitle(
        f"hidden layer {fit.layer}: η_h = {fit.eta_h:.3g}, η_y = {fit.eta_y:.3g}, normalised error {fit.error:.2g}",
        fontsize=FONT_SIZE,
    )
    save_figure(fig, path, record=False)  # figures for docs/, not workflow artifacts


def plot_depth_profile(fits: Sequence[LayerFit], path: str | os.PathLike) -> None:
    """Fit error per hidden layer (normalised and raw), log scale."""
    fig = new_figure(4.5, 2.6)
    ax = fig.subplots()
    layers = [f.layer for f in fits]
    ax.semilogy(layers, [f.error for f in fits], "o-", color="k", ms=3, label="normalised error")
    ax.semilogy(layers, [f.raw_error for f in fits], "s--", color="C0", ms=3, label="raw error")
    ax.set_xlabel("hidden layer", fontsize=FONT_SIZE)
    ax.set_ylabel("fit error", fontsize=FONT_SIZE)
    ax.tick_params(labelsize=FONT_SIZE - 1)
    ax.legend(fontsize=FONT_SIZE - 1)
    save_figure(fig, path, record=False)  # figures for docs/, not workflow artifacts


def plot_gains(records: Sequence[ToyRecord], fits: Sequence[LayerFit], path: str | os.PathLike) -> None:
    """H(t)/H(0) and the loss per gain, with the fitted theory dashed: plateaus vanish as the gain grows."""
    fig = new_figure(7.0, 2.6)
    ax_h, ax_loss = fig.subplots(1, 2)
    for k, (record, fit) in enumerate(zip(records, fits)):
        H = record.H[:, fit.layer]
        colour = f"C{k}"
        label = f"gain {record.setup.gain:g}, lr {record.setup.lr:g}"
        ax_h.plot(record.epochs, H / H[0], color=colour, lw=1.4, label=label)
        ax_h.plot(record.epochs, theory_curves(record, fit)[:, 0] / H[0], color=colour, lw=1.0, ls="--")
        ax_loss.semilogy(record.epochs, record.loss, color=colour, lw=1.2)
    ax_h.set_yscale("log")
    ax_h.set_ylabel("H(t) / H(0)", fontsize=FONT_SIZE)
    ax_loss.set_ylabel("loss", fontsize=FONT_SIZE)
    for ax in (ax_h, ax_loss):
        ax.set_xlabel("epoch", fontsize=FONT_SIZE)
        ax.tick_params(labelsize=FONT_SIZE - 1)
    ax_h.legend(fontsize=FONT_SIZE - 1)
    save_figure(fig, path, record=False)  # figures for docs/, not workflow artifacts


def plot_final_distance(points: Sequence[FinalDistance], path: str | os.PathLike) -> None:
    """Measured against predicted final distance, one point per (‖dx‖, ‖dy*‖), with the diagonal."""
    fig = new_figure(3.4, 3.2)
    ax = fig.subplots()
    predicted = np.array([p.predicted for p in points])
    measured = np.array([p.measured for p in points])
    sc = ax.scatter(predicted, measured, c=[p.dy for p in points], s=[30 * p.dx for p in points], cmap="viridis")
    top = 1.05 * max(predicted.max(), measured.max())
    ax.plot([0, top], [0, top], color="grey", lw=0.8)
    ax.set_xlabel("predicted H∞", fontsize=FONT_SIZE)
    ax.set_ylabel("measured H at the end", fontsize=FONT_SIZE)
    ax.tick_params(labelsize=FONT_SIZE - 1)
    bar = fig.colorbar(sc, ax=ax)
    bar.set_label("‖dy*‖ (marker size: ‖dx‖)", fontsize=FONT_SIZE)
    bar.ax.tick_params(labelsize=FONT_SIZE - 1)
    save_figure(fig, path, record=False)  # figures for docs/, not workflow artifacts
