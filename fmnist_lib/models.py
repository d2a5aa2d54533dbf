"""The study's convolutional autoencoder and classifier.

Encoder (shared): Conv2d(1->16, 3x3) MaxPool ReLU -> Conv2d(16->32, 3x3) MaxPool ReLU -> Linear(32*7*7 -> n) ReLU,
with dropout after every stage. MaxPool before ReLU is the same function as the study's Conv-ReLU-MaxPool (ReLU is
monotonic, so it commutes with max) on a quarter of the elements. Decoder: Linear(n -> 32*7*7) ReLU -> ConvTranspose2d(32->16) ReLU ->
ConvTranspose2d(16->1) and the output activation (sigmoid, or relu for the study's sweep), dropout after
every hidden stage. Classifier: the encoder, then Linear(n -> hidden) ReLU dropout Linear(hidden -> 10),
with the study's ReLU on the logits (head="relu") or plain logits (head="linear").
Parameter counts at n=64, hidden=128: encoder 105,216; autoencoder 211,905; classifier 114,826.
"""

from __future__ import annotations

import torch
from torch import nn

from .config import Config

C1, C2 = 16, 32  # channels of the two convolution blocks
FEATURES = C2 * 7 * 7  # 1568


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
            nn.Conv2d(1, C1, 3, padding=1), nn.MaxPool2d(2), nn.ReLU(), Dropout(p),  # (B, 16, 14, 14)
            nn.Conv2d(C1, C2, 3, padding=1), nn.MaxPool2d(2), nn.ReLU(), Dropout(p),  # (B, 32, 7, 7)
        )
        self.latent = nn.Sequential(nn.Flatten(), nn.Linear(FEATURES, n), nn.ReLU(), Dropout(p))  # (B, n)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.latent(self.features(x))


class Decoder(nn.Module):
    def __init__(self, n: int, p: float, activation: str):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(n, FEATURES), nn.ReLU(), Dropout(p),
            nn.Unflatten(1, (C2, 7, 7)),  # (B, 32, 7, 7)
            nn.ConvTranspose2d(C2, C1, 3, stride=2, padding=1, output_padding=1), nn.ReLU(), Dropout(p),  # 14x14
            nn.ConvTranspose2d(C1, 1, 3, stride=2, padding=1, output_padding=1),  # (B, 1, 28, 28)
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
    def __init__(self, n: int = 64, p: float = 0.2, hidden: int = 128, head: str = "relu"):
        super().__init__()
        self.encoder = Encoder(n, p)
        layers = [nn.Linear(n, hidden), nn.ReLU(), Dropout(p), nn.Linear(hidden, 10)]
        self.head = nn.Sequential(*layers, *([nn.ReLU()] if head == "relu" else []))
        self.encoder_frozen = False

    def freeze_encoder(self) -> None:
        """Fix the encoder: no gradients, and always in eval mode (a fixed feature extractor, no dropout)."""
        self.encoder_frozen = True
        self.encoder.requires_grad_(False)
        self.encoder.eval()

    def train(self, mode: bool = True) -> "Classifier":
        super().train(mode)
        if self.encoder_frozen:
            self.encoder.eval()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(x))  # (B, 10) logits


def build_model(cfg: Config, encoder_state: dict | None = None) -> nn.Module:
    """The model a config describes; a pretrained or random-frozen classifier gets its encoder fixed here."""
    if cfg.model == "autoencoder":
        return ConvAutoencoder(cfg.n, cfg.dropout, cfg.activation)
    model = Classifier(cfg.n, cfg.dropout, cfg.hidden, cfg.head)
    if cfg.pretrained:
        if encoder_state is None:
            raise ValueError(f"{cfg.encoder} classifier needs the encoder weights of its autoencoder")
        model.encoder.load_state_dict(encoder_state)
    if cfg.encoder.endswith("frozen"):
        model.freeze_encoder()
    return model


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
