"""The ONNX ``BatchNormalization`` operator, run by the specification's reference evaluator and by ONNX Runtime."""
