"""Training-speed benchmark: ``python -m bench`` (``--quick`` for a short run).

Times one epoch of the NumPy engine (``nn.training.train``), scikit-learn's
``MLPClassifier``, PyTorch on the CPU (when installed) and "the matmuls alone" (the
same matrix products with nothing else: the BLAS floor) on identical configurations,
in one process, alternating runs, and prints medians and the ratios that issue 3 sets
as goals. See the README's "Benchmark" section.

- ``engines``: one timing function per engine
- ``extras``: peak memory of a Kaggle CSV run, time to 90% on the real test set
- ``report``: running the rounds and printing the tables
"""
