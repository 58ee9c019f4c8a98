"""Every column of the workflow sections, by id: an implementation's layer under one mechanism."""

from __future__ import annotations

from .base import WorkflowColumn, workflow_column


def _by_id(*columns: WorkflowColumn) -> dict[str, WorkflowColumn]:
    return {column.id: column for column in columns}


FROZEN: dict[str, WorkflowColumn] = _by_id(
    workflow_column("torch-batchnorm1d", "eval", "workflows.frozen:TorchEval"),
    workflow_column("torch-batchnorm1d", "requires_grad_false", "workflows.frozen:TorchRequiresGradFalse"),
    workflow_column("torch-batchnorm1d", "eval_requires_grad_false", "workflows.frozen:TorchEvalRequiresGradFalse"),
    workflow_column("tensorflow-keras3", "trainable_false", "workflows.frozen:KerasTrainableFalse"),
    workflow_column("tensorflow-keras3", "base_training_false", "workflows.frozen:KerasBaseTrainingFalse"),
    workflow_column("jax-keras3", "trainable_false", "workflows.frozen:KerasTrainableFalse"),
    workflow_column("torch-keras3", "trainable_false", "workflows.frozen:KerasTrainableFalse"),
    workflow_column("jax-keras3", "base_training_false", "workflows.frozen:KerasBaseTrainingFalse"),
    workflow_column("torch-keras3", "base_training_false", "workflows.frozen:KerasBaseTrainingFalse"),
    workflow_column("tensorflow-tf_keras", "trainable_false", "workflows.frozen:TfKerasTrainableFalse"),
    workflow_column("tensorflow-tf_keras", "base_training_false", "workflows.frozen:TfKerasBaseTrainingFalse"),
    workflow_column("tensorflow-tf1", "trainable_false", "workflows.frozen:Tf1TrainableFalse"),
    workflow_column("tensorflow-tf1", "training_false", "workflows.frozen:Tf1TrainingFalse"),
    workflow_column("tensorflow-sonnet", "is_training_false", "workflows.frozen:SonnetIsTrainingFalse"),
    workflow_column("tensorflow-sonnet", "test_local_stats", "workflows.frozen:SonnetTestLocalStats"),
    workflow_column("jax-flax_linen", "use_running_average", "workflows.frozen:FlaxLinenUseRunningAverage", ("optax",)),
    workflow_column("jax-flax_nnx", "eval", "workflows.frozen:FlaxNnxEval", ("optax",)),
    workflow_column("jax-haiku", "is_training_false", "workflows.frozen:HaikuIsTrainingFalse", ("optax",)),
    workflow_column("jax-haiku", "test_local_stats", "workflows.frozen:HaikuTestLocalStats", ("optax",)),
    workflow_column("jax-equinox_ema", "inference", "workflows.frozen:EquinoxInference", ("optax",)),
    workflow_column("paddle-batchnorm1d", "use_global_stats", "workflows.frozen:PaddleUseGlobalStats"),
    workflow_column("paddle-batchnorm1d", "eval", "workflows.frozen:PaddleEval"),
    workflow_column("mlx-batchnorm", "freeze", "workflows.frozen:MlxFreeze"),
    workflow_column("mlx-batchnorm", "eval", "workflows.frozen:MlxEval"),
    workflow_column("tinygrad-batchnorm", "training_off", "workflows.frozen:TinygradTrainingOff"),
    workflow_column("tinygrad-batchnorm", "requires_grad_false", "workflows.frozen:TinygradRequiresGradFalse"),
)

MIXED_PRECISION: dict[str, WorkflowColumn] = _by_id(
    workflow_column("torch-batchnorm1d", "autocast_bfloat16", "workflows.mixed_precision:TorchAutocastBfloat16"),
    workflow_column("torch-batchnorm1d", "autocast_bfloat16_after_linear", "workflows.mixed_precision:TorchAutocastBfloat16AfterLinear"),
    workflow_column("torch-batchnorm1d", "autocast_float16_after_linear", "workflows.mixed_precision:TorchAutocastFloat16AfterLinear"),
    workflow_column("tensorflow-keras3", "mixed_float16", "workflows.mixed_precision:KerasMixedFloat16"),
    workflow_column("tensorflow-keras3", "mixed_bfloat16", "workflows.mixed_precision:KerasMixedBfloat16"),
    workflow_column("jax-keras3", "mixed_float16", "workflows.mixed_precision:KerasMixedFloat16"),
    workflow_column("jax-keras3", "mixed_bfloat16", "workflows.mixed_precision:KerasMixedBfloat16"),
    workflow_column("torch-keras3", "mixed_float16", "workflows.mixed_precision:KerasMixedFloat16"),
    workflow_column("torch-keras3", "mixed_bfloat16", "workflows.mixed_precision:KerasMixedBfloat16"),
    workflow_column("tensorflow-tf_keras", "mixed_float16", "workflows.mixed_precision:TfKerasMixedFloat16"),
    workflow_column("tensorflow-tf_keras", "mixed_bfloat16", "workflows.mixed_precision:TfKerasMixedBfloat16"),
    workflow_column("jax-flax_linen", "dtype_float16", "workflows.mixed_precision:FlaxLinenDtype"),
    workflow_column("jax-flax_nnx", "dtype_float16", "workflows.mixed_precision:FlaxNnxDtype"),
    workflow_column("jax-haiku", "jmp_float16", "workflows.mixed_precision:HaikuJmpFloat16", ("jmp",)),
    workflow_column("jax-haiku", "jmp_float16_batchnorm_float32", "workflows.mixed_precision:HaikuJmpBatchNormFloat32", ("jmp",)),
    workflow_column("jax-equinox_ema", "dtype_float16", "workflows.mixed_precision:EquinoxDtype"),
    workflow_column("paddle-batchnorm1d", "auto_cast_bfloat16", "workflows.mixed_precision:PaddleAutoCast"),
    workflow_column("mlx-batchnorm", "float16_input", "workflows.mixed_precision:MlxHalfInput"),
    workflow_column("tinygrad-batchnorm", "float16_input", "workflows.mixed_precision:TinygradHalfInput"),
    workflow_column("onnx-reference", "float16_input", "workflows.mixed_precision:OnnxReferenceHalfInput"),
    workflow_column("onnx-onnxruntime", "float16_input", "workflows.mixed_precision:OnnxRuntimeHalfInput"),
)

COMPILED: dict[str, WorkflowColumn] = _by_id(
    workflow_column("torch-batchnorm1d", "compile", "workflows.compiled:TorchCompile"),
    workflow_column("tensorflow-keras3", "fit", "workflows.compiled:KerasFitTensorflow"),
    workflow_column("tensorflow-keras3", "fit_xla", "workflows.compiled:KerasFitXla"),
    workflow_column("jax-keras3", "fit", "workflows.compiled:KerasFitJax"),
    workflow_column("torch-keras3", "fit", "workflows.compiled:KerasFitTorch"),
    workflow_column("torch-keras3", "fit_jit", "workflows.compiled:KerasFitTorchCompile"),
    workflow_column("tensorflow-tf_keras", "xla", "workflows.compiled:TfKerasXla"),
    workflow_column("tensorflow-sonnet", "xla", "workflows.compiled:SonnetXla"),
    workflow_column("tensorflow-tf1", "jit_scope", "workflows.compiled:Tf1JitScope"),
    workflow_column("tensorflow-tf1", "global_jit_level", "workflows.compiled:Tf1GlobalJitLevel"),
)

FOLDING: dict[str, WorkflowColumn] = _by_id(
    workflow_column("torch-batchnorm1d", "fuse_linear_bn_eval", "workflows.folding:TorchFuseLinear"),
    workflow_column("torch-batchnorm2d", "fuse_conv_bn_eval", "workflows.folding:TorchFuseConv"),
    workflow_column("torch-batchnorm2d", "fuse_modules", "workflows.folding:TorchFuseModules"),
    workflow_column("tensorflow-keras3", "tflite", "workflows.folding:KerasTflite"),
    workflow_column("tensorflow-tf_keras", "tflite", "workflows.folding:TfKerasTflite"),
    workflow_column("onnx-onnxruntime", "graph_optimizations", "workflows.folding:OnnxRuntimeFolding"),
    workflow_column("onnx-onnxruntime", "onnxoptimizer", "workflows.folding:OnnxOptimizerFolding", ("onnxoptimizer",)),
    workflow_column("onnx-onnxruntime", "onnxsim", "workflows.folding:OnnxSimFolding", ("onnxsim",), worker="onnxsim"),
)
