"""BatchNorm where users meet it: frozen for fine-tuning, under mixed-precision policies, compiled for
training and folded for inference, one module per setting with every framework's way side by side."""
