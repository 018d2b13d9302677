"""Handwritten characters to learn from: where they come from and how they are read.

Every loader returns a :class:`Dataset` with the same layout, so the rest of the
project never cares where the digits came from:

* ``images``: shape ``(n, 784)``, dtype ``uint8``, C-contiguous.  Row ``i`` is one
  28 x 28 picture flattened row by row (pixel ``(r, c)`` is column ``28 * r + c``),
  0 = background, 255 = full ink.
* ``labels``: shape ``(n,)``, dtype ``uint8``, values ``0 .. n_classes - 1`` -- or
  ``None`` for unlabelled data such as Kaggle's ``test.csv``.

Pixels stay ``uint8`` (1 byte each) until the network needs them; :func:`to_float32`
then scales a batch to 0.0-1.0.  Keeping 60,000 images as bytes costs 47 MB instead
of 188 MB as float32.

Modules, one source each:

================  ===================================================================
``dataset``       the :class:`Dataset` container, class names
``sources``       opening a path or an uploaded file, sniffing its format, reading it with
                  a limit on the bytes delivered (gzip and zip bombs stop at the limit)
``limits``        the limits every loader checks while reading (rows, images, bytes),
                  their defaults in one table, and the refusals' messages
``content_cache`` uploads named by their SHA-256, and a bounded, thread-safe store of
                  parsed Datasets with read-only arrays that sessions share
``bundled``       the MNIST data that ships with the app: 5,000 training images and the
                  real 10,000-image test set (``assets/data/mnist``, sha256-checked)
``kaggle_csv``    Kaggle "Digit Recognizer" ``train.csv`` / ``test.csv``
``idx``           MNIST's original IDX files, gzipped or not
``split``         a stratified training / validation split
``download``      HTTP downloads with progress, checksum and atomic rename; the cache
``mnist``         the full 70,000-image MNIST, downloaded from a mirror
``emnist_files``  EMNIST's letters and other splits read: IDX stored transposed, class
                  names from the mapping file, a folder or NIST's ``gzip.zip``
``emnist``        EMNIST fetched: ``gzip.zip`` downloaded, one split unpacked, the
                  ``emnist-<split>`` strings; re-exports ``emnist_files``' names
``load``          one string names any of the above (the command line's ``--data``)
``preprocess``    a drawing on a canvas turned into a 28 x 28 digit the MNIST way
``transforms``    rotate, shift, scale, blur, thicken, thin, add noise: ``(n, 784)``
                  batches in and out, for robustness experiments
================  ===================================================================

All malformed input raises :class:`nn.errors.DataError` with a message that says
what is wrong and where (file, row, column); so does a file over a limit (the message
says what was found and what the limit is). This package depends on ``nn`` only for
that error type; nothing here imports Streamlit or Plotly. ``preprocess`` and
``transforms`` resample and filter images with Pillow.
"""

from nn.errors import DataError

from .bundled import load_bundled, load_mnist_test_set
from .content_cache import SharedDatasets, content_digest
from .dataset import DIGIT_CLASS_NAMES, IMAGE_SIDE, PIXELS_PER_IMAGE, Dataset, class_noun, class_ranges, to_float32
from .download import default_cache_dir
from .idx import load_idx, load_idx_dir, load_idx_pair
from .kaggle_csv import load_kaggle_csv
from .load import load_data
from .mnist import download_mnist
from .split import stratified_split

__all__ = ["DIGIT_CLASS_NAMES", "IMAGE_SIDE", "PIXELS_PER_IMAGE", "DataError", "Dataset", "SharedDatasets",
           "class_noun", "class_ranges", "content_digest", "default_cache_dir", "download_mnist", "load_bundled",
           "load_data", "load_idx", "load_idx_dir", "load_idx_pair", "load_kaggle_csv", "load_mnist_test_set",
           "stratified_split", "to_float32"]
