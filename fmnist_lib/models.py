"""The study's convolutional autoencoder and classifier, layer for layer as the course's assignment fixes them.

The statement (FaMAF-UNC, Redes Neuronales 2023, Trabajo Final Integrador; ../shared/study/ASSIGNMENT.md):

Encoder: Conv2d(1->16, 3) ReLU Dropout MaxPool(2) -> Conv2d(16->32, 3) ReLU Dropout MaxPool(2) -> Flatten
Linear(800 -> n) ReLU Dropout. No padding: 28 -> 26 -> 13 -> 11 -> 5, so 32*5*5 = 800 features.
Decoder: Linear(n -> 800) ReLU Dropout Unflatten(32, 5, 5) -> ConvTranspose2d(32->16, 4, stride 2, output_padding 1)
ReLU Dropout -> ConvTranspose2d(16->1, 3, stride 2, output_padding 1) and the output activation (Sigmoid; ReLU
for the study's sweep): 5 -> 13 -> 28.
Classifier: the encoder, then Linear(n -> 10) ReLU Dropout (head="relu", the statement's), or Linear(n -> 10)
alone (head="linear", plain logits: the ablation).
Parameter counts at n=64: encoder 56,064; autoencoder 116,417; classifier 56,714.

A frozen encoder (the statement's "pretrained and frozen") is one whose parameters the optimizer does not get; its
dropout stays on during training, as the usual model.train() leaves it. freeze_encoder(eval_mode=True) is the
variant that also switches the encoder's dropout off while training (a fixed feature extractor).
"""

from __future__ import annotations

import torch
from torch import nn

from .config import Config

C1, C2 = 16, 32  # channels of the two convolution blocks
SIDE = 5  # 28 -conv3-> 26 -pool-> 13 -conv3-> 11 -pool-> 5
FEATURES = C2 * SIDE * SIDE  # 800


class Dropout(nn.Module):
    """Inverted dropout, as nn.Dropout, with a mask drawn from 16-bit slices of random 64-bit words.

    bernoulli_ draws one random number per element and was ~30% of a training step on CPU; here one
    64-bit draw serves four elements. An element is kept when its 16-bit value is >= round(p * 65536), so
    the keep probability is 1 - round(p * 65536) / 65536, within 2**-17 of 1 - p; kept values are scaled
    by the inverse of that exact keep probability, so the expectation is unchanged.
    """

    def __init__(self, p: float):
        super().__init__()
        self.p = p
        self.threshold = round(p * 65536)
        self.keep = 1 - self.threshold / 65536

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.threshold == 0:
            return x
        return x * dropout_mask(x, self.threshold, self.keep)

    def extra_repr(self) -> str:
        return f"p={self.p}"


def dropout_mask(x: torch.Tensor, threshold: int, keep: float) -> torch.Tensor:
    """A mask shaped like x holding 0 (dropped) or 1/keep (kept), in x's dtype and memory layout."""
    words = (x.numel() + 3) // 4
    # random_() alone draws from [0, 2**63): the top bit would always be 0. Ask for the full 64-bit range.
    bits = torch.empty(words, dtype=torch.int64, device=x.device).random_(-(2**63), None)
    # (words,) int64 -> (4 * words,) int16 in [-32768, 32767]; u16 >= threshold  <=>  s16 >= threshold - 32768
    mask = (bits.view(torch.int16)[: x.numel()] >= threshold - 32768).to(x.dtype).mul_(1.0 / keep)
    if x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last):
        n, c, h, w = x.shape
        return mask.view(n, h, w, c).permute(0, 3, 1, 2)
    return mask.view(x.shape)


class Encoder(nn.Module):
    def __init__(self, n: int, p: float):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, C1, 3), nn.ReLU(), Dropout(p), nn.MaxPool2d(2),  # (B, 16, 26, 26) -> (B, 16, 13, 13)
            nn.Conv2d(C1, C2, 3), nn.ReLU(), Dropout(p), nn.MaxPool2d(2),  # (B, 32, 11, 11) -> (B, 32, 5, 5)
        )
        self.latent = nn.Sequential(nn.Flatten(), nn.Linear(FEATURES, n), nn.ReLU(), Dropout(p))  # (B, n)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.latent(self.features(x))


class Decoder(nn.Module):
    def __init__(self, n: int, p: float, activation: str):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(n, FEATURES), nn.ReLU(), Dropout(p),
            nn.Unflatten(1, (C2, SIDE, SIDE)),  # (B, 32, 5, 5)
            nn.ConvTranspose2d(C2, C1, 4, stride=2, output_padding=1), nn.ReLU(), Dropout(p),  # (B, 16, 13, 13)
            nn.ConvTranspose2d(C1, 1, 3, stride=2, output_padding=1),  # (B, 1, 28, 28)
            nn.Sigmoid() if activation == "sigmoid" else nn.ReLU(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class ConvAutoencoder(nn.Module):
    def __init__(self, n: int = 64, p: float = 0.2, activation: str = "sigmoid"):
        super().__init__()
        self.encoder = Encoder(n, p)
        self.decoder = Decoder(n, p, activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


class Classifier(nn.Module):
    def __init__(self, n: int = 64, p: float = 0.2, head: str = "relu"):
        super().__init__()
        self.encoder = Encoder(n, p)
        self.head = nn.Sequential(nn.Linear(n, 10), nn.ReLU(), Dropout(p)) if head == "relu" else \
            nn.Sequential(nn.Linear(n, 10))
        self.encoder_eval = False

    def freeze_encoder(self, eval_mode: bool = False) -> None:
        """Fix the encoder's parameters (no gradients; the optimizer is given only the head's). With eval_mode its
        dropout is also off during training; without it (the statement's freezing) dropout stays on."""
        self.encoder.requires_grad_(False)
        self.encoder_eval = eval_mode
        self.train(self.training)

    def train(self, mode: bool = True) -> "Classifier":
        super().train(mode)
        if self.encoder_eval:
            self.encoder.eval()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(x))  # (B, 10) logits


def build_model(cfg: Config, encoder_state: dict | None = None) -> nn.Module:
    """The model a config describes; a pretrained or random-frozen classifier gets its encoder fixed here."""
    if cfg.model == "autoencoder":
        return ConvAutoencoder(cfg.n, cfg.dropout, cfg.activation)
    model = Classifier(cfg.n, cfg.dropout, cfg.head)
    if cfg.pretrained:
        if encoder_state is None:
            raise ValueError(f"{cfg.encoder} classifier needs the encoder weights of its autoencoder")
        model.encoder.load_state_dict(encoder_state)
    if cfg.frozen:
        model.freeze_encoder(eval_mode=cfg.encoder.endswith("-eval"))
    return model


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def layer_list(model: nn.Module) -> list[str]:
    """Every leaf module in order, as repr strings: the architecture as a stable, comparable list."""
    return [f"{name}: {m!r}" for name, m in model.named_modules() if not list(m.children())]
