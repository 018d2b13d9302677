"""Digit Lab's neural network, from scratch in NumPy.

Modules, in reading order:

- ``activations``: hidden-layer functions and their derivatives (name -> function tables)
- ``layers``: the Layer interface; Dense, Activation, Flatten
- ``conv``: convolution (im2col + one matrix multiply) and max pooling as layers
- ``network``: a Network of layers: forward and backward passes, softmax + cross-entropy
- ``optimizers``: SGD, momentum/Nesterov, RMSprop, Adam; learning-rate schedules
- ``training``: epochs of full-batch / mini-batch / stochastic descent, with a history
- ``gradcheck``: backprop checked against finite differences
- ``model_io``: model files (.npz + JSON metadata, never pickled)
- ``analysis``: looking inside a trained network (templates, saliency, traces, ...)
- ``speed``: every speed trick the modules above call, each with its reason

This package never imports Streamlit or Plotly.
"""

from .conv import ConvSpec
from .errors import DataError
from .network import ConvNetwork, Network
from .training import History, TrainConfig, TrainResult, build_network, evaluate, train

__all__ = ["ConvNetwork", "ConvSpec", "DataError", "History", "Network", "TrainConfig", "TrainResult",
           "build_network", "evaluate", "train"]
