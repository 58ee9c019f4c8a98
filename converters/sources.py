"""The source models every conversion path starts from: a BatchNorm with non-default momentum and
epsilon, trained, alone and after the layers a converter may fold it into."""

from __future__ import annotations

import numpy as np

#: Where the BatchNorm sits: alone, after a Linear/Dense layer, after a Conv layer.
SHAPES = ("alone", "after Linear", "after Conv")
#: PyTorch's momentum (the weight of the new value) and epsilon, both off their defaults (0.1, 1e-5),
#: so a converter that drops them for the target's defaults shows.
TORCH_MOMENTUM, TORCH_EPSILON = 0.2, 1e-3
TRAINING_STEPS = 20


def batch_shape(shape: str, batch_size: int) -> tuple[int, ...]:
    return {"alone": (batch_size, 4), "after Linear": (batch_size, 3), "after Conv": (batch_size, 2, 5, 5)}[shape]


def batches(shape: str, count: int, seed: int, batch_size: int = 8) -> list[np.ndarray]:
    """Seeded float32 batches with mean 3 and standard deviation 2, far from the initial statistics."""
    rng = np.random.default_rng(seed)
    return [(rng.normal(size=batch_shape(shape, batch_size)) * 2 + 3).astype(np.float32) for _ in range(count)]


def torch_source(shape: str, training: bool = False):
    """``torch.nn.Sequential`` of the shape, its BatchNorm trained ``TRAINING_STEPS`` forward passes
    (the moving statistics) with gamma and beta set off 1 and 0; in eval mode unless ``training``."""
    import torch

    torch.manual_seed(0)
    layers = {"alone": [], "after Linear": [torch.nn.Linear(3, 4)], "after Conv": [torch.nn.Conv2d(2, 4, 3)]}[shape]
    norm = (torch.nn.BatchNorm2d if shape == "after Conv" else torch.nn.BatchNorm1d)(4, momentum=TORCH_MOMENTUM, eps=TORCH_EPSILON)
    model = torch.nn.Sequential(*layers, norm)
    model.train()
    with torch.no_grad():
        for batch in batches(shape, TRAINING_STEPS, seed=1):
            model(torch.from_numpy(batch))
        norm.weight.copy_(torch.linspace(0.5, 2.0, 4))
        norm.bias.copy_(torch.linspace(-1.0, 1.0, 4))
    model.train(training)
    return model


def torch_batchnorm(model):
    """The source's BatchNorm layer (its last)."""
    return model[-1]
