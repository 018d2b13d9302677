"""Digit Lab's neural network, from scratch in NumPy.

Modules, in reading order:

- ``activations``: hidden-layer functions and their derivatives (name -> function tables)
- ``network``: the dense network, forward and backward passes
- ``conv``: convolution (im2col + one matrix multiply), max pooling, a small CNN
- ``optimizers``: SGD, momentum/Nesterov, RMSprop, Adam; learning-rate schedules
- ``training``: epochs of full-batch / mini-batch / stochastic descent, with a history
- ``gradcheck``: backprop checked against finite differences
- ``data``: the bundled MNIST subset, Kaggle CSVs, IDX files, the MNIST download
- ``emnist``: EMNIST letters and other characters (IDX, stored transposed), its download
- ``model_io``: model files (.npz + JSON metadata, never pickled)

This package never imports Streamlit or Plotly.
"""

from .conv import ConvNetwork, ConvSpec
from .errors import DataError
from .network import Network
from .training import History, TrainConfig, TrainResult, build_network, evaluate, train

__all__ = ["ConvNetwork", "ConvSpec", "DataError", "History", "Network", "TrainConfig", "TrainResult",
           "build_network", "evaluate", "train"]
