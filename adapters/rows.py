"""Every row of the conventions matrix, in every section, declared once: its id, its title, what it
means when you port, how it is probed and how a value is shown.

The conventions suite, the matrix and its renderings (``reports/``), CONVENTIONS.md and ``bnparity
measure`` are all derived from these declarations. A layer row states one field of
:class:`~adapters.conventions.Conventions`: its probe (``adapters/probes.py``) measures that field's
value, and ``show`` writes a value, declared or observed, as the matrix writes it. The rows of the
further sections (conversion paths, data-parallel runs) are observed by their own checks
(``suites/converter_checks.py``, ``suites/parallel_checks.py``) as the text the matrix shows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import probes
from .conventions import Conventions


def _number(value: float) -> str:
    return f"{value:g}"


@dataclass(frozen=True)
class Row:
    id: str
    title: str
    porting: str  #: what this row means when you port a model
    #: A layer row's probe: adapter class -> (the field's value, or probes.Other; evidence).
    probe: Callable[[type], tuple[Any, str]] | None = None
    #: The Conventions field the row states (its id where not given).
    field: str = ""
    #: A value of the field as the matrix writes it (``str`` where not given).
    format: Callable[[Any], str] = str

    def show(self, value: Any) -> str:
        """A declared or observed value as the matrix writes it; an unexplained observation as measured."""
        return str(value) if isinstance(value, probes.Other) else self.format(value)

    @property
    def field_name(self) -> str:
        return self.field or self.id

    def declared(self, conventions: Conventions) -> str:
        """What ``conventions`` declare for this row, as the matrix writes it."""
        return self.show(getattr(conventions, self.field_name))


ROWS: tuple[Row, ...] = (
    Row("momentum_weight", "Which value the momentum argument weighs",
        "PyTorch momentum m is Keras/Flax momentum 1 - m: translate the number, never copy it.", probes.momentum_weight),
    Row("default_momentum", "Default momentum (native value)",
        "The defaults 0.1 (PyTorch) and 0.99 (Keras) are not the same decay: 0.9 against 0.99.", probes.default_momentum,
        format=lambda value: "required" if value is None else _number(value)),
    Row("default_epsilon", "Default epsilon",
        "Carry epsilon explicitly: the defaults 1e-3 and 1e-5 change outputs wherever the variance is small.",
        probes.default_epsilon, format=_number),
    Row("train_normalize_variance", "Variance that normalizes a batch in training",
        "Where a training batch is normalized with the moving statistics instead of its own, training outputs "
        "differ from the second step on, even where the moving statistics agree.", probes.train_normalize_variance),
    Row("moving_variance_update", "Variance that enters the moving average",
        "An unbiased update stores n/(n-1) times more; at small batches the moving variances drift apart.",
        probes.moving_variance_update),
    Row("initial_mean", "Initial moving mean", "The first steps blend with this value: it is part of the state.",
        probes.initial_mean, format=_number),
    Row("initial_variance", "Initial moving variance", "Likewise; a model evaluated after few steps depends on it.",
        probes.initial_variance, format=_number),
    Row("first_step", "What the first step stores",
        "blend: decay * initial + (1 - decay) * batch, the founding question's surprise; copy stores the batch "
        "value; debiased divides a hidden average by 1 - decay**t, which gives the batch value only where it starts at 0.",
        probes.first_step),
    Row("batch_size_1", "One value per channel in training",
        "Some refuse, others normalize everything to beta and store a zero (or NaN) variance; Paddle passes the "
        "batch through untouched and updates nothing.", probes.batch_size_1),
    Row("cumulative_average", "A cumulative (non-exponential) average",
        "Only where a native argument exists can it be ported; elsewhere it must be emulated.", probes.cumulative_average,
        format=lambda value: "yes" if value else "no"),
    Row("inference_formula", "What inference normalizes with",
        "Moving statistics with epsilon inside the root: port the four tensors and epsilon, and outputs match.",
        probes.inference_formula),
    Row("half_precision", "Dtypes of output and moving statistics for half-precision input",
        "Statistics kept in half precision lose digits every step; float32 statistics do not.", probes.half_precision),
    Row("variance_robustness", "Moving variance of data with mean 1e4 and standard deviation 1e-2",
        "A one-pass variance (E[x^2] - E[x]^2) loses every digit there; two-pass and Welford do not.",
        probes.variance_robustness, field="one_pass_variance", format=lambda one_pass: "lossy" if one_pass else "accurate"),
    Row("half_precision_range", "A float16 batch beyond float16's range (largest value 65504)",
        "Where the statistics are computed in float16, a variance beyond 65504 is inf and the batch normalizes to 0; "
        "where they are stored in float16, the moving variance is inf for good. Keep BatchNorm statistics in "
        "float32 (mixed precision), and batches within range.", probes.half_precision_range),
    Row("non_finite", "One NaN in one channel of a training batch",
        "A single bad value poisons the moving statistics of its channel for good (an exponential average never "
        "forgets a NaN); where it reaches every channel, the whole layer is lost. Check batches before training.",
        probes.non_finite),
    Row("float64_momentum", "Precision of momentum and epsilon in a float64 layer",
        "Where the momentum passes through a float32 attribute or tensor, float64 moving statistics move by up to "
        "~6e-8 relative per step: ported float64 models agree to float32's digits there, not float64's.",
        probes.float64_momentum),
    Row("state_names", "Native names of moving mean, moving variance, gamma, beta",
        "The keys to map when converting a checkpoint.", probes.state_names, format=", ".join),
    Row("weight_order", "Order of the four tensors in the framework's own list of the layer's weights",
        "A positional copy (Keras's set_weights, a flattened pytree, a state_dict's values) between frameworks that list "
        "them in different orders puts one tensor into another's place: copy by name, in the target's order.",
        probes.weight_order, format=lambda order: ", ".join(order) if order else "not said"),
)
ROW_IDS = tuple(row.id for row in ROWS)


def cells(conventions: Conventions) -> dict[str, str]:
    """A declaration in the matrix's vocabulary: one string per row id."""
    return {row.id: row.declared(conventions) for row in ROWS}


@dataclass(frozen=True)
class Section:
    """A part of the matrix beyond the implementations' conventions: its own rows and its own
    columns (conversion paths, data-parallel runs), observed by its own suite, recorded under its
    own name, rendered after the conventions in every output. Its columns are registered above this
    layer (``suites/sections.py``)."""

    key: str  #: its key in conventions.json, and the user property its cells travel as (bnparity_<key>_cell)
    title: str
    intro: str  #: what its columns start from, in a sentence or two
    column: str  #: what a column is ("path", "run")
    rows: tuple[Row, ...]
    advice: str  #: the label of each row's last line ("When you convert")
    suite: str  #: the suite module that observes it, relative to the repository root

    @property
    def record(self) -> str:
        return f"bnparity_{self.key}_cell"

    @property
    def row_ids(self) -> tuple[str, ...]:
        return tuple(row.id for row in self.rows)

    def every_row(self, value: str) -> dict[str, str]:
        """A declaration of ``value`` in every row: a column the pinned versions cannot run at all."""
        return {row.id: value for row in self.rows}


CONVERTERS = Section(
    "converters", "Converters",
    "A PyTorch source (momentum 0.2, epsilon 1e-3, trained 20 steps; the BatchNorm alone, after a Linear and "
    "after a Conv), or a Keras 3 or tf_keras one (momentum 0.8, epsilon 1e-5), through each conversion path, read back "
    "from the artifact the path wrote (`suites/test_converters.py`).",
    "path", (
        Row("batchnorm_kept", "Is the BatchNorm still a BatchNorm",
            "A folded BatchNorm is inference arithmetic in the layer before it: exact for inference, but nothing is left to "
            "train or to read the moving statistics from; export unoptimized (or unfolded) to keep it."),
        Row("epsilon", "Epsilon (source 1e-3, PyTorch's default 1e-5)",
            "ONNX stores epsilon as a float32 attribute; a target that takes its own default changes every output."),
        Row("momentum", "Momentum (source PyTorch momentum 0.2: weight 0.2 on the new value)",
            "ONNX's momentum weighs the old value: 0.2 must arrive as 0.8. Inference never reads it; continued training does."),
        Row("statistics", "Moving mean, moving variance, gamma and beta",
            "Carried bit for bit where the node survives; folded, they live only inside the previous layer's weights."),
        Row("inference", "Inference output against the source's (float32 tolerance)",
            "What a converted model is for: every path measured here keeps it."),
        Row("training_export", "Exporting a source left in training mode (alone)",
            "Call model.eval() before exporting: what a training-mode export writes differs between exporters."),
        Row("continued_training", "20 more training steps in source and target (alone; batch sizes 2, 8, 64)",
            "The artifact trains by the target's conventions, not the source's: an ONNX BatchNormalization stores the "
            "biased variance where PyTorch stores the unbiased one, so the moving variances part most at small batches."),
    ), "When you convert", "suites/test_converters.py",
)
DATA_PARALLEL = Section(
    "data_parallel", "Data-parallel BatchNorm",
    "One global batch split across two replicas (replica 0: [-1, 0, 1, 0], replica 1: [9, 10, 11, 10]; global mean 5 and "
    "variance 25.5, each replica's variance 0.5) in each framework's own data-parallel machinery, one training step at "
    "decay 0; then two steps at decay 0.5, and one step with replicas of unequal sizes (`suites/test_data_parallel.py`).",
    "run", (
        Row("normalizes_with", "Statistics each replica normalizes its batch with in training",
            "Without a synchronizing argument each replica normalizes with its own batch: a model trained on N devices "
            "is not the model trained on one device with N times the batch."),
        Row("combined_variance", "How the replicas' variances are combined",
            "Pooled over all replicas is the one-device variance; a mean of the replicas' variances misses the spread "
            "between their means."),
        Row("replicas_agree", "Moving statistics on each replica after the step",
            "Unsynchronized replicas hold different moving statistics: which one a checkpoint keeps decides inference."),
        Row("unbiased_count", "Correction of the variance that enters the moving average",
            "PyTorch stores n/(n-1) times the batch variance; under a synchronized layer n may be the replica's count "
            "or the global one, and the two differ by 25% at four examples per replica."),
        Row("uneven_replicas", "Replicas with unequal batch sizes (6 and 2 examples)",
            "A synchronized layer that averages the replicas' means weighs a replica of 2 examples like one of 6; "
            "weighting by count gives the one-device statistics."),
        Row("read_outside", "What a read of the moving statistics outside the replicas returns",
            "What a checkpoint holds: replica 0's statistics, the value every replica holds, or one per replica that "
            "the script must choose from."),
        Row("inference", "What each replica normalizes with in inference after the step (replica 0's batch on every replica)",
            "Where replicas hold different moving statistics, the same input gets a different prediction on each "
            "replica unless the framework hands them one replica's."),
        Row("next_step", "What each replica's moving statistics are updated from at the next step",
            "PyTorch DDP's default broadcast_buffers=True makes every rank start each step from rank 0's: a rank's own "
            "statistics then last one step; with it off, or in JAX, each replica keeps its own unless synchronized."),
    ), "When you port a data-parallel model", "suites/test_data_parallel.py",
)
FROZEN = Section(
    "frozen", "Frozen for fine-tuning",
    "A fresh layer (two channels, moving statistics 0 and 1, decay 0.5, epsilon 1e-3) frozen by each framework's "
    "mechanism, then one step of the framework's own training API (plain SGD, learning rate 0.5, on mean(output * "
    "target)) on a batch with means near 3; where the framework has a parent's training switch, it is turned on and a "
    "second step taken (`suites/test_frozen.py`).",
    "mechanism", (
        Row("normalizes_with", "Statistics that normalize the batch in a training step",
            "A Keras layer with trainable = False normalizes with its moving statistics; PyTorch's requires_grad_(False) "
            "does not, only eval() does: port a frozen Keras BatchNorm as eval() plus requires_grad_(False)."),
        Row("moving_statistics", "The moving statistics after the step",
            "A layer that still normalizes with its batch updates its moving statistics too: a fine-tuned port whose "
            "source kept them fixed drifts from it at every step."),
        Row("gamma_beta", "Gamma and beta after the optimizer's step",
            "Freezing the statistics is not freezing the parameters: eval(), use_running_average and is_training=False "
            "leave gamma and beta to the optimizer."),
        Row("parent_switch", "What the parent's training switch does to the frozen layer",
            "PyTorch's model.train() at each epoch switches an eval() BatchNorm back to batch statistics; Keras's "
            "model.trainable = True unfreezes a trainable = False one. Freeze again after the switch, or override train()."),
    ), "When you fine-tune", "suites/test_frozen.py",
)
MIXED_PRECISION = Section(
    "mixed_precision", "Mixed precision",
    "A float32 BatchNorm (alone, or after a float32 dense layer initialized to the identity where the policy acts on a "
    "model) trained under each framework's mixed-precision policy as its users turn it on; where a framework has no "
    "policy, a float16 batch into a float32 layer. Two channels, decay 0.9, epsilon 1e-3 (`suites/test_mixed_precision.py`).",
    "policy", (
        Row("output_dtype", "Dtype of the output",
            "What the next layer receives; a policy that leaves the BatchNorm in float32 hands float32 on."),
        Row("moving_dtype", "Dtype the moving statistics are stored in",
            "Statistics stored in half precision lose digits at every update; every policy that keeps them in float32 ports "
            "to another that does."),
        Row("computed_in", "Precision of the batch variance (64 values up to ±300 that float16 and bfloat16 hold exactly, "
                           "variance near 30000)",
            "Squares computed in float16 overflow at 65504 and the variance is lost; a layer that computes its statistics "
            "in float32 from the same half-precision batch keeps every digit, and one that rounds them to half precision "
            "keeps three."),
        Row("ordinary_error", "Moving variance after 10 steps on data with mean 3 and standard deviation 0.4, against float64",
            "How far mixed precision moves ordinary statistics: the rounding of the batch to half precision, at most."),
        Row("large_mean_error", "The same on data with mean 300 and standard deviation 1",
            "bfloat16 keeps 8 bits: a batch near 300 is rounded to steps of 2, and its variance is lost before any "
            "BatchNorm sees it; float16's steps of 0.25 keep it to half a percent."),
        Row("half_input", "A batch already in the policy's half-precision dtype",
            "What a layer does with half-precision activations: cast them up, compute in them, or refuse."),
    ), "When you port a mixed-precision model", "suites/test_mixed_precision.py",
)
COMPILED = Section(
    "compiled", "Training with a compiler",
    "A fresh float32 layer (four channels, decay 0.9, epsilon 1e-3) trained through each compiler path on 50 batches "
    "of 16 (means near 3), beside the same path run eagerly; its moving statistics after 1 and 50 steps against the "
    "eager path's and the float64 reference's (float32 tolerance), a batch with mean 1e4 and standard deviation 1e-2 "
    "at decay 0, inference after training, and the cumulative average where the framework has one "
    "(`suites/test_compiled.py`).",
    "path", (
        Row("mode", "What the path compiled with",
            "Keras's jit_compile=\"auto\" resolves differently per backend: what a model trained with fit ran is the "
            "backend's, not the model's."),
        Row("one_step", "Moving statistics after 1 step, against the eager path and the reference",
            "Where a compiled step matches its eager twin, a port may compile or not: the statistics agree."),
        Row("fifty_steps", "Moving statistics after 50 steps, against the eager path and the reference",
            "A compiler's other accumulation order shows over many steps first."),
        Row("large_mean", "Stored variance of a batch with mean 1e4 and standard deviation 1e-2 (float32), against the eager path",
            "A compiler may rewrite a two-pass variance as one pass (E[x^2] - E[x]^2), which loses every digit here."),
        Row("inference", "Inference output after training, against the eager path",
            "What a compiled model serves."),
        Row("cumulative", "A cumulative average (PyTorch's momentum=None) through the compiler",
            "PyTorch's cumulative average divides by a counter read from a tensor: a graph compiled whole cannot."),
    ), "When you compile", "suites/test_compiled.py",
)
FOLDING = Section(
    "folding", "Folding for inference",
    "A bias-free dense layer (or 1x1 convolution), then a BatchNorm in inference, in five blocks of four channels (the "
    "layer's weight block-diagonal, so each block computes what a model of four channels would) with moving means "
    "0.5, -1, 2, 3, gamma 1.5, 0.5, -1, 2, beta 0.1, -0.2, 0.3, 0, and each block's moving variance one of 1e-8, 1e-4, "
    "1, 1e3, 1e5; one model for epsilon 1e-5, one for 1e-1, folded by each deployment path and run beside the unfolded "
    "model on the same batch, in each dtype the path offers. The error is the largest difference relative to the "
    "largest output of the block in the unfolded model, over the 10 (variance, epsilon) pairs (`suites/test_folding.py`).",
    "path", (
        Row("folded", "Is the BatchNorm folded into the layer before it",
            "A folded model has no moving statistics left to read or train: fold the deployed copy, keep the trained one."),
        Row("float32", "Largest error of the folded model in float32",
            "Folding is exact in real arithmetic; in float32 it moves outputs by a few ulps."),
        Row("float16", "Largest error in float16",
            "In float16 a moving variance of 1e-8 is 0 and gamma / sqrt(var + eps) is rounded into the weights."),
        Row("bfloat16", "Largest error in bfloat16", "bfloat16 keeps 8 bits of the folded weights."),
        Row("worst_case", "Where the error is largest (moving variance, epsilon, dtype)",
            "Tiny variances with a tiny epsilon scale the weights by up to 316; huge ones shrink them by 300."),
    ), "When you fold", "suites/test_folding.py",
)
#: The sections after the conventions, in the order every output renders them.
SECTIONS: tuple[Section, ...] = (CONVERTERS, DATA_PARALLEL, FROZEN, MIXED_PRECISION, COMPILED, FOLDING)
