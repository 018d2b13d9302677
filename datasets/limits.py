"""How much one file may hold: the limits every loader checks while it reads.

An upload is hostile until it is read: a 3 MB gzipped CSV can unpack to 1.6 GB of text,
an IDX header can promise a million images.  So each loader takes limits as keyword
arguments (``None`` switches one off) whose defaults are these, and checks them *while*
streaming: a file is refused once it has delivered one block more than its limit, never
inflated in full, and an IDX header promising more is refused before anything is allocated.

The defaults fit every legitimate file the app and the command line read, with room:

======================  ============  =====================================================
name                    default       what it bounds (the largest legitimate file)
======================  ============  =====================================================
``MAX_CSV_ROWS``        100,000       data rows of a Kaggle CSV (train.csv: 42,000;
                                      test.csv: 28,000); blank lines are not rows
``MAX_CSV_BYTES``       250 MB        its text, after gunzip (train.csv: 77 MB)
``MAX_IDX_IMAGES``      150,000       images (or labels) in one IDX file (full MNIST's
                                      training file: 60,000; EMNIST letters' 124,800,
                                      balanced's 112,800)
``MAX_IDX_BYTES``       117.6 MB      one IDX file after gunzip: the header and
                                      ``MAX_IDX_IMAGES`` images
``MAX_EMNIST_IMAGES``   814,255       one EMNIST file read from the server's disk (a
                                      folder or NIST's ``gzip.zip``; byclass and bymerge
                                      have 814,255 images in all), never an upload
``MAX_EMNIST_BYTES``    638.4 MB      such a file (or an archive member) unpacked
``MAX_MAPPING_BYTES``   64 KB         an EMNIST mapping file (the real ones: under 1 KB)
======================  ============  =====================================================

A refusal is a :class:`nn.errors.DataError` naming the file, what was found and the
limit, e.g. ``train.csv: more than 100,000 rows; a CSV may have at most 100,000 rows``.
"""

from __future__ import annotations

from nn.errors import DataError

from .dataset import PIXELS_PER_IMAGE

IDX_IMAGES_HEADER_BYTES = 16  # magic number and three dimensions

MAX_CSV_ROWS = 100_000
MAX_CSV_BYTES = 250_000_000
MAX_IDX_IMAGES = 150_000
MAX_IDX_BYTES = IDX_IMAGES_HEADER_BYTES + MAX_IDX_IMAGES * PIXELS_PER_IMAGE
MAX_EMNIST_IMAGES = 814_255
MAX_EMNIST_BYTES = IDX_IMAGES_HEADER_BYTES + MAX_EMNIST_IMAGES * PIXELS_PER_IMAGE
MAX_MAPPING_BYTES = 64_000


def size_text(n_bytes: int) -> str:
    """A byte count for people: ``"250 MB"``, ``"117.6 MB"``, ``"64 KB"``, ``"900 bytes"``."""
    for unit, size in (("MB", 10**6), ("KB", 10**3)):
        if n_bytes >= size:
            return f"{n_bytes / size:,.1f}".removesuffix(".0") + f" {unit}"
    return f"{n_bytes:,} bytes"


def too_many_error(file_name: str, found: str, limit: int, unit: str, what: str) -> DataError:
    """The refusal of a file over a count limit, e.g. ``train.csv: more than 100,000 rows; a CSV
    may have at most 100,000 rows``: ``found`` says how many were seen, ``what`` is the kind of file."""
    return DataError(f"{file_name}: {found}; {what} may have at most {limit:,} {unit}")


def too_big_error(file_name: str, limit: int, what: str, decompressed: bool) -> DataError:
    """The refusal of a file over a byte limit, e.g. ``train.csv.gz: more than 250 MB once
    decompressed; a CSV may hold at most 250 MB``."""
    where = " once decompressed" if decompressed else ""
    return DataError(f"{file_name}: more than {size_text(limit)}{where}; {what} may hold at most "
                     f"{size_text(limit)}")
