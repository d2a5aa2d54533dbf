"""Metrics and parameters in words, for axes, tables and sentences."""

from __future__ import annotations

PARAM_WORDS = {"activation": "output activation", "optimizer": "optimizer", "n": "latent size n",
               "dropout": "dropout p", "lr": "learning rate", "batch_size": "batch size", "encoder": "encoder"}
SPLIT_WORDS = {"train": "training", "train_eval": "training (eval mode)", "val": "validation", "test": "test"}


def metric_label(metric: str, model: str = "autoencoder") -> str:
    """A metric in words: 'val_loss' of an autoencoder is 'validation MSE', 'test_acc' is 'test accuracy'."""
    if metric == "test_loss_dropout":
        return "test MSE, dropout on (the study's way)"
    split, _, kind = metric.rpartition("_")
    what = "accuracy" if kind == "acc" else "MSE" if model == "autoencoder" else "cross-entropy"
    words = SPLIT_WORDS.get(split, split)
    return f"{words} {what}" + (" (dropout on)" if split == "train" else "")


def param_label(param: str) -> str:
    return PARAM_WORDS.get(param, param)
