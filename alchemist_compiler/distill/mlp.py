"""Train the distilled MLP on soft labels (torch), over sparse features.

The first layer multiplies a sparse batch (scipy CSR) by a dense weight: forward `X @ W`, backward
`X.T @ grad`, both at the cost of the nonzeros only (torch's EmbeddingBag backward is ~15x slower
here). Training runs on one thread so the weights, and so the emitted bytes, do not depend on the
machine's core count.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .featurize import SparseRows

BATCH_ROWS = 64
PATIENCE = 10


class _SparseTimesDense(torch.autograd.Function):
    """rows (scipy CSR, n x d) @ weight (d x h)."""

    @staticmethod
    def forward(ctx, weight: torch.Tensor, rows) -> torch.Tensor:
        ctx.rows = rows
        return torch.from_numpy(np.asarray(rows @ weight.detach().numpy()))

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return torch.from_numpy(np.asarray(ctx.rows.T @ grad.numpy())), None


class SparseMLP(nn.Module):
    """features -> hidden ReLU layers -> class logits, reading sparse rows."""

    def __init__(self, n_features: int, hidden: list[int], k: int, observed: np.ndarray):
        super().__init__()
        linear = nn.Linear(n_features, hidden[0])  # nn.Linear's initialization, for the same scale
        # A feature no train row has carries no information: weight 0 (it never gets a gradient,
        # so it stays 0), instead of random noise added to unseen inputs at prediction time.
        observed_rows = torch.from_numpy(observed)[:, None]
        self.first_weight = nn.Parameter((linear.weight.detach().T * observed_rows).contiguous())
        self.first_bias = nn.Parameter(linear.bias.detach().clone())
        layers: list[nn.Module] = [nn.ReLU()]
        for width_in, width_out in zip(hidden, hidden[1:]):
            layers += [nn.Linear(width_in, width_out), nn.ReLU()]
        layers.append(nn.Linear(hidden[-1], k))
        self.rest = nn.Sequential(*layers)

    def forward(self, rows: SparseRows) -> torch.Tensor:
        first = _SparseTimesDense.apply(self.first_weight, rows.scipy())
        return self.rest(first + self.first_bias)

    def dense(self) -> nn.Sequential:
        """The same function as a dense torch module (for ONNX export)."""
        first = nn.Linear(*self.first_weight.shape)
        with torch.no_grad():
            first.weight.copy_(self.first_weight.T)
            first.bias.copy_(self.first_bias)
        return nn.Sequential(first, *self.rest)


@dataclass(frozen=True)
class TrainResult:
    model: SparseMLP
    best_epoch: int
    valid_accuracy: float | None


def _soft_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return -(targets * torch.log_softmax(logits, dim=1)).sum(dim=1).mean()


def _accuracy(model: SparseMLP, rows: SparseRows, labels: np.ndarray) -> float:
    with torch.no_grad():
        return float((model(rows).argmax(dim=1).numpy() == labels).mean())


def train_mlp(
    train: SparseRows,
    soft_labels: np.ndarray,
    *,
    hidden: list[int],
    seed: int,
    epochs: int,
    learning_rate: float,
    valid: SparseRows | None = None,
    valid_labels: np.ndarray | None = None,
) -> TrainResult:
    """Minibatch Adam on soft cross-entropy; keeps the epoch with the best valid accuracy."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    k = soft_labels.shape[1]
    observed = np.zeros(train.n_features, dtype=np.float32)
    observed[train.indices] = 1.0
    model = SparseMLP(train.n_features, hidden, k, observed)
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate, weight_decay=1e-5)
    targets = torch.from_numpy(soft_labels.astype(np.float32))
    best = (-1.0, 0, {key: v.clone() for key, v in model.state_dict().items()})
    for epoch in range(1, epochs + 1):
        model.train()
        order = rng.permutation(len(train))
        for start in range(0, len(order), BATCH_ROWS):
            batch = order[start : start + BATCH_ROWS]
            optimizer.zero_grad()
            _soft_cross_entropy(model(train.rows(batch)), targets[batch]).backward()
            optimizer.step()
        if valid is None:
            continue
        model.eval()
        accuracy = _accuracy(model, valid, valid_labels)
        if accuracy > best[0]:
            best = (accuracy, epoch, {key: v.clone() for key, v in model.state_dict().items()})
        elif epoch - best[1] >= PATIENCE:
            break
    if valid is None:
        return TrainResult(model.eval(), epochs, None)
    model.load_state_dict(best[2])
    return TrainResult(model.eval(), best[1], best[0])


class Ensemble(nn.Module):
    """Averaged class probabilities of several dense MLPs."""

    def __init__(self, members: list[nn.Module]):
        super().__init__()
        self.members = nn.ModuleList(members)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        probabilities = [torch.softmax(m(features), dim=1) for m in self.members]
        return torch.stack(probabilities).mean(dim=0)
