"""What a conversion path does to a trained BatchNorm, read from the artifact it writes.

The observations are made in the ``converters`` worker process, asked for when the first case that
names no implementation runs (``suites/conftest.py``), so that the conversions run while the test
process runs other cases (``cases.observed_where_it_runs`` collects them). There,
``observe(path_id)`` converts the path's source model of every shape (``converters.sources``), reads each
artifact back (``converters.base.Artifact``) and returns one observation per row of the matrix's
converters section, with its evidence; the test process imports neither the source framework nor
the target. A path that cannot run with the pinned versions gives its error as every row's observation.
"""

from __future__ import annotations

import re
import traceback

import numpy as np

from adapters.rows import CONVERTERS
from converters.base import per_shape
from converters.registry import PATHS
from converters.sources import SHAPES, TRAINING_STEPS, source

from .cases import compare

ROW_IDS = CONVERTERS.row_ids

def _folded_into(operators: tuple[str, ...]) -> str:
    kept = [op for op in operators if op not in ("Identity", "Flatten", "Reshape", "Squeeze", "Unsqueeze")]
    return f"folded into {'/'.join(kept)}" if kept else "removed"


def observe(path_id: str) -> dict[str, tuple[str, str]]:
    """row -> (observed, evidence) for the conversion path ``path_id``."""
    try:
        return _observe(PATHS[path_id].load()())
    except Exception as error:  # a path that cannot run with the pinned versions: its error is the fact
        # Files are named by their path in their package, never on this machine (the matrix is
        # committed, and a fresh clone's run must reproduce it): in the message, and where the
        # converter raised (the original error where a path restated it, ``raise ... from``).
        message = re.sub(r"[^\s(]*site-packages/", "", str(error).strip().splitlines()[0] if str(error).strip() else "")
        where = traceback.extract_tb((error.__cause__ or error).__traceback__)[-1]
        evidence = f"{type(error).__name__}: {message} (raised in {where.filename.split('site-packages/')[-1]}:{where.lineno})"
        return {row: (f"cannot run ({type(error).__name__})", evidence) for row in ROW_IDS}


#: Whether each target's momentum weighs the old moving value (ONNX's and Keras's) or the new one (PyTorch's).
TARGET_MOMENTUM_WEIGHS_OLD = {"onnx": True, "keras": True, "torch": False}


def _observe(converter) -> dict[str, tuple[str, str]]:
    origin = source(converter.source)
    weighs_old = TARGET_MOMENTUM_WEIGHS_OLD[converter.target]
    target_momentum = origin.decay if weighs_old else 1.0 - origin.decay
    momentum_label = f"{'carried' if weighs_old == origin.momentum_weighs_old else 'inverted'} ({target_momentum:g})"
    cells: dict[str, dict[str, str]] = {row: {} for row in ROW_IDS}
    evidence: dict[str, list[str]] = {row: [] for row in ROW_IDS}
    for shape in SHAPES:
        model = origin.model(shape)
        stored_in_source = origin.statistics(model)
        (example,) = origin.batches(shape, 1, seed=2)
        artifact = converter.convert(model, example)
        if shape == "alone":
            alone = artifact
        evidence["batchnorm_kept"].append(f"{shape}: {', '.join(artifact.operators)}")
        if artifact.batchnorms:
            (converted,) = artifact.batchnorms
            cells["batchnorm_kept"][shape] = "kept"
            eps = converted.epsilon
            cells["epsilon"][shape] = ("carried" if eps == origin.epsilon else "carried as float32" if eps == float(np.float32(origin.epsilon))
                                       else f"{eps:g}" if eps is not None else "absent")
            evidence["epsilon"].append(f"{shape}: {eps!r}")
            m = converted.momentum
            cells["momentum"][shape] = ("absent" if m is None else momentum_label if np.isclose(m, target_momentum, rtol=1e-6)
                                        else f"{m:g} (expected {target_momentum:g})")
            evidence["momentum"].append(f"{shape}: {m!r}")
            stored = (converted.mean, converted.variance, converted.gamma, converted.beta)
            difference = max(float(np.max(np.abs(a - b))) for a, b in zip(stored, stored_in_source))
            cells["statistics"][shape] = "bit-equal" if difference == 0 else f"differ (max {difference:.2g})"
            evidence["statistics"].append(f"{shape}: largest difference {difference:.3g}")
        else:
            cells["batchnorm_kept"][shape] = _folded_into(artifact.operators)
            for row in ("epsilon", "momentum", "statistics"):
                cells[row][shape] = "folded"
        (batch,) = origin.batches(shape, 1, seed=3)
        result = compare("inference output", converter.run(artifact, batch), origin.infer(model, batch), "float32")
        cells["inference"][shape] = "matches" if result.passed else "differs"
        evidence["inference"].append(f"{shape}: max abs difference {result.max_abs_error:.2g}")
    cells["training_export"]["alone"], evidence["training_export"] = _training_export(converter, origin)
    cells["continued_training"]["alone"], evidence["continued_training"] = _continued_training(converter, origin, alone)
    observed = {row: (per_shape(cells[row]), "; ".join(evidence[row]) if isinstance(evidence[row], list) else evidence[row])
                for row in ROW_IDS}
    return observed


def _training_export(converter, origin) -> tuple[str, str]:
    """The BatchNorm alone, left in training mode (a PyTorch module's ``train()``; a Keras model has no
    such mode), converted with the path's defaults: what the artifact's BatchNorm computes (batch
    statistics, or the moving ones of inference), whether the converter says so, and (evidence)
    whether converting moved the source's own moving statistics."""
    model = origin.model("alone", training=True)
    before = origin.statistics(model)[0]
    (example,) = origin.batches("alone", 1, seed=2)
    artifact = converter.convert(model, example, training=True)
    moved = not np.array_equal(origin.statistics(model)[0], before)
    if not artifact.batchnorms:
        form = _folded_into(artifact.operators)
    else:
        mode = artifact.batchnorms[0].training_mode
        form = "training BatchNorm (training_mode=1)" if mode == 1 else "inference BatchNorm"
    warned = [w for w in artifact.warnings if "train" in w.lower()]
    observed = f"{form}, {'with a warning' if warned else 'silently'}"
    return observed, (f"operators {', '.join(artifact.operators)}; the source's moving statistics "
                      f"{'moved' if moved else 'untouched'} by the conversion; warnings about training: {warned or 'none'}")


#: Batch sizes of the continued training: the unbiased factor n/(n-1) is 2, 8/7 and 64/63 there.
CONTINUED_BATCH_SIZES = (2, 8, 64)


def _continued_training(converter, origin, artifact) -> tuple[str, str]:
    """The BatchNorm alone, converted (``artifact``), then trained 20 more steps in the source and in the artifact
    (its BatchNormalization node run with ``training_mode=1``, from the tensors it carries) on the same
    batches. Each side is compared with the float64 reference of its own framework's conventions
    from the same state; the cell says whether they do, and how far the two moving variances part."""
    from adapters.reference import ReferenceBatchNorm
    from adapters.registry import implementation
    from adapters.spec import BatchNormSpec

    if converter.target not in TARGET_TRAINERS:
        return "not measured for this target", f"continued training is measured for {', '.join(TARGET_TRAINERS)} artifacts"
    if not artifact.batchnorms:
        return "nothing to train (folded)", f"operators {', '.join(artifact.operators)}"
    source_conventions = implementation(origin.conventions).load().declared
    node = artifact.batchnorms[0]
    ratios, evidence = [], []
    for batch_size in CONTINUED_BATCH_SIZES:
        model = origin.model("alone")  # the source the artifact was converted from, trained on afresh
        target = TARGET_TRAINERS[converter.target](node)
        source_spec = BatchNormSpec(4, decay=origin.decay, epsilon=origin.epsilon)
        target_spec = BatchNormSpec(4, decay=float(node.momentum), epsilon=float(node.epsilon))
        references = {"source": ReferenceBatchNorm(source_spec, source_conventions),
                      "target": ReferenceBatchNorm(target_spec, target.conventions)}
        for reference in references.values():
            reference.moving_mean, reference.moving_variance = np.array(node.mean, np.float64), np.array(node.variance, np.float64)
        for batch in origin.batches("alone", TRAINING_STEPS, seed=4, batch_size=batch_size):
            origin.train_step(model, batch)
            target.train_step(batch)
            for reference in references.values():
                reference.train_step(batch.astype(np.float64))
        source_mean, source_variance = origin.statistics(model)[:2]
        target_state = target.state()
        follows = [compare(f"{side} moving variance", observed, references[side].moving_variance, "float32").passed
                   for side, observed in (("source", source_variance), ("target", target_state.variance))]
        if not all(follows):
            return "does not follow its conventions", f"batch {batch_size}: source, target follow their reference: {follows}"
        ratios.append(float(np.mean(target_state.variance / source_variance)))
        evidence.append(f"batch {batch_size}: moving variance channel 0 source {source_variance[0]:.5g}, "
                        f"target {target_state.variance[0]:.5g}; mean agrees: "
                        f"{bool(np.allclose(target_state.mean, source_mean, rtol=2e-5, atol=2e-5))}")
    parts = ", ".join(f"{r:.2f} at batch {b}" for r, b in zip(ratios, CONTINUED_BATCH_SIZES))
    return f"each follows its own conventions; target/source moving variance {parts}", "; ".join(evidence)


class OnnxNodeTrainer:
    """An ONNX BatchNormalization node of an artifact, run on with ``training_mode=1`` by onnxruntime
    from the tensors and attributes it carries."""

    def __init__(self, node):
        from adapters.base import State
        from adapters.onnx.node import OnnxRuntimeBatchNorm
        from adapters.spec import BatchNormSpec

        self.adapter = OnnxRuntimeBatchNorm(BatchNormSpec(len(node.mean), decay=float(node.momentum), epsilon=float(node.epsilon)))
        self.adapter.set_state(State(*(np.asarray(t, np.float64) for t in (node.mean, node.variance, node.gamma, node.beta))))
        self.conventions = self.adapter.declared
        self.train_step, self.state = self.adapter.train_step, self.adapter.state


class KerasLayerTrainer:
    """A Keras BatchNormalization layer of an artifact, called in training mode as ``fit`` would, from
    the values the conversion carried (restored, as each batch size starts from them)."""

    def __init__(self, node):
        from adapters.registry import implementation

        self.layer = node.native
        for variable, value in zip((self.layer.moving_mean, self.layer.moving_variance, self.layer.gamma, self.layer.beta),
                                   (node.mean, node.variance, node.gamma, node.beta)):
            variable.assign(np.asarray(value, np.float32))
        self.conventions = implementation("tensorflow-keras3").load().declared

    def train_step(self, batch: np.ndarray) -> None:
        self.layer(batch.astype(np.float32), training=True)

    def state(self):
        from adapters.base import State

        layer = self.layer
        return State(*(np.asarray(v, np.float64) for v in (layer.moving_mean, layer.moving_variance, layer.gamma, layer.beta)))


#: How an artifact's BatchNorm trains on, per target.
TARGET_TRAINERS = {"onnx": OnnxNodeTrainer, "keras": KerasLayerTrainer}
