"""The Keras family of BatchNorm layers: Keras 3 (on each of its backends), tf_keras (Keras 2) and
TensorFlow 1's ``tf.compat.v1.layers``, which all speak Keras's vocabulary (``arguments.py``)."""
