"""Every choice the reproduction makes, with its source: the study, the course's assignment statement, or the project.

The study (Palacio, 2025) describes its model loosely; the assignment it follows (FaMAF-UNC, Redes Neuronales 2023,
Trabajo Final Integrador; ../shared/study/ASSIGNMENT.md) fixes every layer. Where neither says, the project chose,
and says why. `could_change` names the conclusion a choice could move and the run that shows by how much.
"""

from __future__ import annotations

import pandas as pd

CHOICES = [
    ("Encoder: Conv2d(1→16, 3) · ReLU · Dropout · MaxPool → Conv2d(16→32, 3) · ReLU · Dropout · MaxPool → "
     "Linear(800→n) · ReLU · Dropout; no padding", "statement",
     "the study says only 'two Conv2D-ReLU-MaxPooling blocks'; the statement fixes each layer", ""),
    ("Decoder: Linear(n→800) · ReLU · Dropout → ConvTranspose2d(32→16, 4, stride 2, output_padding 1) · ReLU · "
     "Dropout → ConvTranspose2d(16→1, 3, stride 2, output_padding 1) · Sigmoid", "statement (Sigmoid: also the study)",
     "", ""),
    ("Classifier head: Linear(n→10) · ReLU · Dropout on the 10 outputs", "statement; the study's 'capa de salida "
     "ReLU con 10 neuronas'", "", "the scratch/pretrained comparison: a ReLU on the logits can silence a class "
     "for good; the plain-logits ablation (head 'linear') shows how much"),
    ("Pretrained and frozen: the optimizer gets only the head's parameters; the encoder's dropout stays on while "
     "training", "statement", "the usual model.train() leaves it on, as in all but one public work on the assignment",
     "the scratch/pretrained comparison: the arm 'pretrained-frozen-eval' trains with the encoder's dropout off"),
    ("n = 64, lr = 1e-3, dropout p = 0.2, batch 100, Adam; MSE and cross-entropy losses", "study and statement", "", ""),
    ("30 autoencoder epochs, 20 classifier epochs", "study", "", ""),
    ("Output activation ReLU vs Sigmoid; SGD vs Adam", "study and statement", "", ""),
    ("SGD without momentum, at lr 1e-3", "project", "the statement names SGD only; plain SGD is PyTorch's default "
     "and what every public work used", "figure 3: SGD with momentum would converge much faster"),
    ("Swept values: n 16-256, dropout 0-0.4, autoencoder lr 1e-4-1e-1, classifier lr 1e-4-1e-2, batch 25-500",
     "project", "the study does not list its values; these bracket each default by the factors its text discusses",
     "figures 4, 5, 11, 12: trends are tested over these ranges only"),
    ("A 50k/10k training/validation split (stratified, fixed seed); the official test set only reports",
     "project", "the course validated on the test set, which chooses hyperparameters on the numbers it reports",
     ""),
    ("Validation and test curves measured in eval mode (dropout off); the study's dropout-on test curve shown "
     "beside it", "project", "the study's own note on figure 1", ""),
    ("5 seeds per setting, 10 for the study's two arms and the baseline autoencoder; permutation tests, "
     "inverted-test intervals, margins of practical equivalence, Holm's correction per family (docs/analysis.md)",
     "project", "the study ran one seed and no test", ""),
    ("PyTorch's default initialisation; one CPU thread per run; channels_last memory layout", "project",
     "the statement uses defaults; threads and layout fix the low bits of a CPU run", ""),
]


def choices_table() -> pd.DataFrame:
    """The choices as a table: choice, source, why, and what it could change (with the run that shows it)."""
    return pd.DataFrame(CHOICES, columns=["choice", "source", "why", "could change"])


def choices_markdown() -> str:
    """The same table as GitHub-flavoured markdown, for the README."""
    lines = ["| choice | source | why | could change |", "|---|---|---|---|"]
    lines += [f"| {c} | {s} | {w} | {x} |" for c, s, w, x in CHOICES]
    return "\n".join(lines)
