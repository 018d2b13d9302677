"""Every speed trick of the engine, in one place, each with its reason.

The layers (``nn/layers.py``, ``nn/conv.py``), the network and the trainer call these
instead of the plain NumPy they stand for, so that they can read like the equations in
their docstrings. Every trick gives exactly the numbers of the plain computation (the
tests in ``tests/nn/test_speed_invariants.py`` hold them to it); only the work differs.

==============================  =====================================================
``memory``                      parameters and gradients as views of ONE array, so an
                                optimiser step is one NumPy call per operation
                                (``one_block``, ``joined``); per-batch-size buffers
                                reused by every step (``Workspace``); cached constant
                                vectors (``ones``, ``zeros_like``)
``dense``                       bias added on blocks of rows (``add_bias``); softmax and
                                loss on transposed logits (``softmax_cross_entropy``,
                                ``softmax``); ``(P - Y) / m`` without one-hot labels
                                (``output_error``); blank input columns left out of the
                                first layer, with its gradient gathered in one pass
                                (``KeptInputColumns``, ``used_columns``)
``conv``                        im2col in the layout that keeps its copy fast
                                (``im2col``, ``col2im``); 2x2 max pool as two maxima of
                                pairs (``max_pool_2x2``); the activation's derivative on
                                the pooled grid (``backward_order``)
``training``                    batches gathered into reused buffers, uint8 until used
                                (``Batches``); statistics as BLAS products
                                (``dead_fraction``, ``norm``)
==============================  =====================================================

The measurements behind the tricks are in the README ("Benchmark").
"""

from .conv import backward_order, col2im, columns_storage, im2col, max_pool_2x2, max_pool_2x2_backward
from .dense import (
    KeptInputColumns,
    add_bias,
    output_error,
    softmax,
    softmax_cross_entropy,
    used_columns,
)
from .memory import NO_BUFFERS, Scratch, StepBuffers, Workspace, joined, one_block, ones, unbuffered, zeros_like
from .training import Batch, Batches, dead_fraction, leaves_out_blank_columns, norm

__all__ = [
    "NO_BUFFERS", "Batch", "Batches", "KeptInputColumns", "Scratch", "StepBuffers", "Workspace",
    "add_bias", "backward_order", "col2im", "columns_storage", "dead_fraction", "im2col", "joined",
    "leaves_out_blank_columns", "max_pool_2x2", "max_pool_2x2_backward", "norm", "one_block", "ones",
    "output_error", "softmax", "softmax_cross_entropy", "unbuffered", "used_columns", "zeros_like",
]
