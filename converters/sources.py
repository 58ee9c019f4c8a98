"""The source models every conversion path starts from: a BatchNorm with non-default momentum and
epsilon, trained, alone and after the layers a converter may fold it into, in the source framework
of the path (``Converter.source``): PyTorch, Keras 3 or tf_keras.

Each source is one small class behind one interface, so the suite (``suites/converter_checks.py``)
reads every path the same way: build the trained model, read its BatchNorm's numbers, run it in
inference, train it on.
"""

from __future__ import annotations

import abc
import functools

import numpy as np

#: Where the BatchNorm sits: alone, after a Linear/Dense layer, after a Conv layer.
SHAPES = ("alone", "after Linear", "after Conv")
TRAINING_STEPS = 20
#: gamma and beta the source's BatchNorm is given after training, off their initial 1 and 0.
GAMMA, BETA = np.linspace(0.5, 2.0, 4), np.linspace(-1.0, 1.0, 4)


def batches(shape: str, count: int, seed: int, batch_size: int = 8, channels_last: bool = False) -> list[np.ndarray]:
    """Seeded float32 batches with mean 3 and standard deviation 2, far from the initial statistics;
    an image batch (``after Conv``, 2 channels of 5x5) channels-first unless ``channels_last``."""
    rng = np.random.default_rng(seed)
    shape_of = {"alone": (batch_size, 4), "after Linear": (batch_size, 3), "after Conv": (batch_size, 2, 5, 5)}[shape]
    made = [(rng.normal(size=shape_of) * 2 + 3).astype(np.float32) for _ in range(count)]
    return [np.moveaxis(b, 1, -1) for b in made] if channels_last and len(shape_of) == 4 else made


class Source(abc.ABC):
    """A trained source model of one framework, and what the suite needs of it."""

    #: The momentum the source's BatchNorm is built with, in its framework's own convention, and its epsilon.
    momentum: float
    epsilon: float
    #: The implementation whose declared conventions the source's BatchNorm follows (adapters/registry.py).
    conventions: str
    #: Whether image batches are channels-last (Keras) or channels-first (PyTorch).
    channels_last: bool = False

    @property
    def decay(self) -> float:
        """The weight of the old moving value, whatever the framework calls momentum."""
        return self.momentum if self.momentum_weighs_old else 1.0 - self.momentum

    @property
    def momentum_weighs_old(self) -> bool:
        from adapters.registry import implementation

        return implementation(self.conventions).load().declared.momentum_weight == "old"

    def batches(self, shape: str, count: int, seed: int, batch_size: int = 8) -> list[np.ndarray]:
        return batches(shape, count, seed, batch_size, self.channels_last)

    @abc.abstractmethod
    def model(self, shape: str, training: bool = False):
        """The model of ``shape``, its BatchNorm trained ``TRAINING_STEPS`` forward passes (the moving
        statistics), gamma and beta set to GAMMA and BETA; left in training mode where the framework has one
        and ``training``."""

    @abc.abstractmethod
    def statistics(self, model) -> tuple[np.ndarray, ...]:
        """The BatchNorm's moving mean, moving variance, gamma and beta, in float64."""

    @abc.abstractmethod
    def infer(self, model, batch: np.ndarray) -> np.ndarray:
        """The model's inference output, in float64."""

    @abc.abstractmethod
    def train_step(self, model, batch: np.ndarray) -> None:
        """One training forward pass, which updates the moving statistics."""


class TorchSource(Source):
    """``torch.nn.Sequential``; PyTorch's momentum (the weight of the new value) 0.2 and epsilon 1e-3,
    both off their defaults (0.1, 1e-5), so a converter that drops them for the target's defaults shows."""

    momentum, epsilon, conventions = 0.2, 1e-3, "torch-batchnorm1d"

    def model(self, shape: str, training: bool = False):
        import torch

        torch.manual_seed(0)
        layers = {"alone": [], "after Linear": [torch.nn.Linear(3, 4)], "after Conv": [torch.nn.Conv2d(2, 4, 3)]}[shape]
        norm = (torch.nn.BatchNorm2d if shape == "after Conv" else torch.nn.BatchNorm1d)(4, momentum=self.momentum, eps=self.epsilon)
        model = torch.nn.Sequential(*layers, norm)
        model.train()
        with torch.no_grad():
            for batch in self.batches(shape, TRAINING_STEPS, seed=1):
                model(torch.from_numpy(batch))
            norm.weight.copy_(torch.from_numpy(GAMMA))
            norm.bias.copy_(torch.from_numpy(BETA))
        model.train(training)
        return model

    def statistics(self, model):
        norm = model[-1]
        return tuple(t.detach().double().numpy() for t in (norm.running_mean, norm.running_var, norm.weight, norm.bias))

    def infer(self, model, batch):
        import torch

        training = model.training
        model.eval()
        with torch.no_grad():
            output = model(torch.from_numpy(batch)).double().numpy()
        model.train(training)
        return output

    def train_step(self, model, batch):
        import torch

        model.train()
        with torch.no_grad():
            model(torch.from_numpy(batch))


class KerasSource(Source):
    """``keras.Sequential`` (Keras 3 on TensorFlow) with momentum 0.8 (the weight of the old value) and
    epsilon 1e-5, both off Keras's defaults (0.99, 1e-3). A Keras model has no training mode of its own
    (``training`` is an argument of each call), so ``model(training=True)`` is the same trained model."""

    momentum, epsilon, conventions = 0.8, 1e-5, "tensorflow-keras3"
    channels_last = True
    module = "keras"

    def model(self, shape: str, training: bool = False):
        import importlib

        keras = importlib.import_module(self.module)
        keras.utils.set_random_seed(0)
        layers = {"alone": [], "after Linear": [keras.layers.Dense(4)], "after Conv": [keras.layers.Conv2D(4, 3)]}[shape]
        (example,) = self.batches(shape, 1, seed=1)
        model = keras.Sequential([keras.Input(example.shape[1:]), *layers,
                                  keras.layers.BatchNormalization(momentum=self.momentum, epsilon=self.epsilon)])
        for batch in self.batches(shape, TRAINING_STEPS, seed=1):
            model(batch, training=True)
        norm = model.layers[-1]
        norm.gamma.assign(GAMMA.astype(np.float32))
        norm.beta.assign(BETA.astype(np.float32))
        return model

    def statistics(self, model):
        norm = model.layers[-1]
        return tuple(np.asarray(v, np.float64) for v in (norm.moving_mean, norm.moving_variance, norm.gamma, norm.beta))

    def infer(self, model, batch):
        return np.asarray(model(batch, training=False), np.float64)

    def train_step(self, model, batch):
        model(batch, training=True)


class TfKerasSource(KerasSource):
    """The same model in tf_keras (Keras 2), which tf2onnx converts."""

    conventions, module = "tensorflow-tf_keras", "tf_keras"


@functools.cache
def source(name: str) -> Source:
    """The source of a path (``Converter.source``)."""
    return {"torch": TorchSource, "keras": KerasSource, "tf_keras": TfKerasSource}[name]()
