"""Small data files written by the tests: Kaggle CSVs and IDX files, as bytes or on disk."""

import numpy as np

PIXEL_HEADER = ",".join(f"pixel{i}" for i in range(784))
LABELLED_HEADER = "label," + PIXEL_HEADER


def write_kaggle_csv(path, images, labels=None):
    """Write images (n, 784) [and labels (n,)] in Kaggle's train.csv/test.csv layout."""
    with open(path, "w", newline="\n") as file:
        if labels is None:
            file.write(PIXEL_HEADER + "\n")
            np.savetxt(file, images, fmt="%d", delimiter=",")
        else:
            file.write(LABELLED_HEADER + "\n")
            np.savetxt(file, np.column_stack([labels, images]), fmt="%d", delimiter=",")


def csv_bytes(rows, header=LABELLED_HEADER, line_end="\n"):
    """A small CSV file as bytes; each row is a list of cell strings."""
    lines = [header] + [",".join(str(cell) for cell in row) for row in rows]
    return (line_end.join(lines) + line_end).encode()


def good_row(label=3, fill=0):
    return [label] + [fill] * 784


def idx_bytes(array, magic=None):
    """The IDX encoding of a uint8 array: magic, big-endian dims, then the bytes."""
    if magic is None:
        magic = 0x00000800 | array.ndim
    header = magic.to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()
