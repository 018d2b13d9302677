"""Model files: a trained network as one ``.npz`` of plain arrays plus JSON metadata.

Layout of the archive (no Python objects anywhere, so loading can never run code):

=============  ==============================================================
``W1 .. WL``   weight matrices, (n[l-1], n[l]), float32 or float64; a conv
               layer's kernel is (k, k, C_in, filters)
``b1 .. bL``   bias vectors, (n[l],)
``metadata``   UTF-8 JSON as a uint8 array: format and version, architecture,
               activation, training settings, history summary, data description
=============  ==============================================================

A convolutional network (conv layers first: ``network.conv_specs``) is written as
format version 2, whose metadata adds ``layer_kinds`` ("conv"/"dense" per weight
layer), ``conv_layers`` (filters, kernel, padding, pool of each) and ``image_shape``;
dense networks are still written as version 1, readable by older programs.

Files are read with ``allow_pickle=False`` and checked before anything is built:
names, shapes, dtypes and finite values must all agree with the metadata. Before any array
is read, the archive's member headers are (:func:`archive_headers`: each ``.npy`` header
gives its shape and dtype in a few hundred bytes), so a file that would unpack to more than
``MAX_UNPACKED_BYTES`` or (``max_parameters``) hold too many parameters is refused at once,
however well its zeros compress (465 KB can hold a 784-80000-10 network).
"""

from __future__ import annotations

import io
import json
import math
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from .activations import ACTIVATIONS
from .conv import ConvSpec, conv_shapes
from .errors import DataError
from .network import Network

FORMAT_NAME = "digit-lab-model"
FORMAT_VERSION = 2  # the newest this program reads (and writes, for conv networks)
DENSE_FORMAT_VERSION = 1  # dense networks: unchanged since version 1
# Refuse archives that would unpack to more than this (a hostile "zip bomb").
MAX_UNPACKED_BYTES = 256 * 1024 * 1024
MAX_METADATA_BYTES = 1_000_000  # the JSON metadata (a real file's: a few KB)
MAX_HEADER_BYTES = 10_000  # one .npy header (numpy's own default limit)


class ModelFileError(DataError):
    """A model file that is corrupt, foreign, pickled or inconsistent."""


def model_metadata(network: Network, **extra) -> dict:
    """The metadata dict saved beside the arrays; ``extra`` adds e.g. config, history."""
    convolutional = bool(network.conv_specs)
    meta = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION if convolutional else DENSE_FORMAT_VERSION,
        "layer_sizes": list(network.layer_sizes),
        "activation": network.activation,
        "init": network.init,
        "dtype": network.dtype.name,
    }
    if convolutional:
        meta["layer_kinds"] = list(network.layer_kinds)
        meta["conv_layers"] = [{"filters": s.filters, "kernel": s.kernel, "padding": s.padding, "pool": s.pool}
                               for s in network.conv_specs]
        meta["image_shape"] = list(network.image_shape)
    return {**meta, **extra}


def model_to_bytes(network: Network, *, compress: bool = True, **extra) -> bytes:
    """The ``.npz`` file's bytes (for a download button). ``compress=False``: the arrays
    stored as they are, about 50x faster to write and 8% larger (weights hardly compress)."""
    buffer = io.BytesIO()
    arrays = {}
    for layer, (w, b) in enumerate(zip(network.weights, network.biases), start=1):
        arrays[f"W{layer}"] = w
        arrays[f"b{layer}"] = b
    meta = json.dumps(model_metadata(network, **extra), default=_json_default).encode()
    arrays["metadata"] = np.frombuffer(meta, dtype=np.uint8)
    (np.savez_compressed if compress else np.savez)(buffer, **arrays)
    return buffer.getvalue()


def save_model(path, network: Network, **extra) -> Path:
    """Write the model to ``path`` atomically (a temp file renamed over it)."""
    path = Path(path)
    data = model_to_bytes(network, **extra)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    return path


def archive_headers(archive: zipfile.ZipFile, label: str = "model file") -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """{array name: (shape, dtype)} of every member of an ``.npz``, read from the ``.npy``
    headers only (a few hundred bytes each, whatever the arrays hold); ModelFileError for a
    member that is not a plain ``.npy`` array."""
    headers = {}
    for info in archive.infolist():
        name = info.filename.removesuffix(".npy")
        try:
            with archive.open(info) as member:
                version = np.lib.format.read_magic(member)
                if version == (1, 0):
                    shape, _, dtype = np.lib.format.read_array_header_1_0(member, max_header_size=MAX_HEADER_BYTES)
                elif version == (2, 0):
                    shape, _, dtype = np.lib.format.read_array_header_2_0(member, max_header_size=MAX_HEADER_BYTES)
                else:
                    raise ValueError(f"unsupported .npy format version {version}")
        except ModelFileError:
            raise
        except Exception as error:  # ValueError, zlib.error, BadZipFile, EOFError, ...
            raise ModelFileError(f"{label}: entry {name!r} is not a plain array ({type(error).__name__}: "
                                 f"{error})") from None
        if dtype.hasobject:
            raise ModelFileError(f"{label}: contains pickled Python objects; such files are never loaded "
                                 "because unpickling can run arbitrary code")
        headers[name] = (tuple(int(n) for n in shape), dtype)
    return headers


def _check_headers(headers: dict, label: str, max_parameters: int | None) -> None:
    """Refuse, from the headers alone, an archive whose arrays are too large or hold more
    than ``max_parameters`` weights and biases."""
    declared = sum(math.prod(shape) * dtype.itemsize for shape, dtype in headers.values())
    if declared > MAX_UNPACKED_BYTES:
        raise ModelFileError(f"{label}: its arrays hold {declared / 2**20:,.0f} MiB, more than a model can be "
                             f"({MAX_UNPACKED_BYTES / 2**20:.0f} MiB)")
    metadata = headers.get("metadata")
    if metadata is not None and math.prod(metadata[0]) > MAX_METADATA_BYTES:
        raise ModelFileError(f"{label}: its metadata is {math.prod(metadata[0]):,} bytes, more than "
                             f"{MAX_METADATA_BYTES:,}")
    if max_parameters is None:
        return
    weights = {name: shape for name, (shape, _) in headers.items() if name[:1] in "Wb" and name[1:].isdigit()}
    parameters = sum(math.prod(shape) for shape in weights.values())
    if parameters > max_parameters:
        layers = sorted((int(name[1:]), shape) for name, shape in weights.items() if name[0] == "W")
        dense = all(len(shape) == 2 for _, shape in layers) and layers
        what = ("a " + "-".join(str(n) for n in [layers[0][1][0], *(shape[1] for _, shape in layers)]) + " network, "
                if dense else "")
        raise ModelFileError(f"{label}: {what}{parameters:,} parameters; a model here may have at most "
                             f"{max_parameters:,}")


def load_model(source, max_parameters: int | None = None) -> tuple[Network, dict]:
    """(network, metadata) from a path, bytes or a binary file-like object.

    ``max_parameters``: refuse a network with more weights and biases than this (read from
    the archive's headers, before any array is built); None: no limit (the command line's
    own files).

    Raises ModelFileError saying what is wrong for anything but a valid model file.
    """
    label = Path(source).name if isinstance(source, (str, os.PathLike)) else "model file"
    if isinstance(source, (bytes, bytearray)):
        source = io.BytesIO(source)
    try:
        if isinstance(source, (str, os.PathLike)):
            with open(source, "rb") as handle:
                raw = handle.read()
        else:
            raw = source.read()
    except OSError as error:
        raise ModelFileError(f"{label}: cannot be read ({error.strerror or error})") from None
    if not raw:
        raise ModelFileError(f"{label}: file is empty")
    if raw[:1] == b"\x80" and raw[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):  # pickle protocol 2-5
        raise ModelFileError(f"{label}: contains a pickled Python object; such files are never "
                             "loaded because unpickling can run arbitrary code")
    if not zipfile.is_zipfile(io.BytesIO(raw)):
        raise ModelFileError(f"{label}: not a .npz model file (not a zip archive)")
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
            if unpacked > MAX_UNPACKED_BYTES:
                raise ModelFileError(f"{label}: unpacks to {unpacked / 2**20:.0f} MiB, more than a "
                                     f"model can be ({MAX_UNPACKED_BYTES / 2**20:.0f} MiB)")
            _check_headers(archive_headers(archive, label), label, max_parameters)
        with np.load(io.BytesIO(raw), allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except ModelFileError:
        raise
    except ValueError as error:
        if "pickle" in str(error).lower() or "object arrays" in str(error).lower():
            raise ModelFileError(f"{label}: contains pickled Python objects; such files are "
                                 "never loaded because unpickling can run arbitrary code") from None
        raise ModelFileError(f"{label}: corrupt array data ({error})") from None
    except Exception as error:  # zlib.error, BadZipFile, EOFError, OSError, ...
        raise ModelFileError(f"{label}: corrupt .npz file ({type(error).__name__}: {error})") from None
    return _network_from_arrays(arrays, label)


def _network_from_arrays(arrays: dict, label: str) -> tuple[Network, dict]:
    if "metadata" not in arrays:
        raise ModelFileError(f"{label}: no 'metadata' entry; not a Digit Lab model file")
    try:
        meta = json.loads(arrays["metadata"].astype(np.uint8).tobytes().decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise ModelFileError(f"{label}: metadata is not valid JSON") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
        raise ModelFileError(f"{label}: not a Digit Lab model file (format {meta.get('format')!r})"
                             if isinstance(meta, dict) else f"{label}: metadata is not an object")
    version = meta.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ModelFileError(f"{label}: format version {version!r} is newer than this program "
                             f"understands ({FORMAT_VERSION})")
    sizes = meta.get("layer_sizes")
    if (not isinstance(sizes, list) or len(sizes) < 2
            or not all(isinstance(n, int) and n >= 1 for n in sizes)):
        raise ModelFileError(f"{label}: metadata layer_sizes {sizes!r} is not a list of widths")
    activation = meta.get("activation")
    if activation not in ACTIVATIONS:
        raise ModelFileError(f"{label}: unknown activation {activation!r}")
    if "conv" in (meta.get("layer_kinds") or ()) or "conv_layers" in meta:
        return _conv_network_from_arrays(arrays, meta, sizes, label), meta
    _check_arrays(arrays, list(zip(sizes[:-1], sizes[1:])), label)
    weights = [arrays[f"W{layer}"] for layer in range(1, len(sizes))]
    biases = [arrays[f"b{layer}"] for layer in range(1, len(sizes))]
    network = Network.from_arrays(weights, biases, activation, meta.get("init"))
    return network, meta


def _conv_network_from_arrays(arrays: dict, meta: dict, sizes: list, label: str) -> Network:
    """A convolutional network from a version-2 file, every shape checked against the metadata."""
    specs_meta, image_shape = meta.get("conv_layers"), meta.get("image_shape")
    if not isinstance(specs_meta, list) or not specs_meta or not all(isinstance(s, dict) for s in specs_meta):
        raise ModelFileError(f"{label}: metadata conv_layers {specs_meta!r} is not a list of conv layers")
    if (not isinstance(image_shape, list) or len(image_shape) != 2
            or not all(isinstance(n, int) and n >= 1 for n in image_shape)):
        raise ModelFileError(f"{label}: metadata image_shape {image_shape!r} is not [height, width]")
    try:
        specs = [ConvSpec(s.get("filters"), s.get("kernel"), s.get("padding", "valid"), s.get("pool", True))
                 for s in specs_meta]
        if not all(isinstance(s.pool, bool) for s in specs):
            raise ValueError("pool must be true or false")
        shapes = conv_shapes(specs, image_shape)
    except ValueError as error:
        raise ModelFileError(f"{label}: metadata conv_layers: {error}") from None
    n_conv = len(specs)
    kinds = ["conv"] * n_conv + ["dense"] * (len(sizes) - 1 - n_conv)
    if meta.get("layer_kinds") != kinds or len(sizes) < n_conv + 2:
        raise ModelFileError(f"{label}: metadata layer_kinds {meta.get('layer_kinds')!r} does not match "
                             f"{n_conv} conv layers and layer_sizes {sizes}")
    conv_sizes = [image_shape[0] * image_shape[1]] + [math.prod(pooled) for _, pooled in shapes]
    if sizes[: n_conv + 1] != conv_sizes:
        raise ModelFileError(f"{label}: metadata layer_sizes {sizes} do not match the conv layers "
                             f"(expected {conv_sizes} first)")
    channels = [1] + [s.filters for s in specs]
    shapes_expected = [(s.kernel, s.kernel, c, s.filters) for s, c in zip(specs, channels)]
    shapes_expected += [(a, b) for a, b in zip(sizes[n_conv:-1], sizes[n_conv + 1 :])]
    _check_arrays(arrays, shapes_expected, label)
    n_layers = len(shapes_expected)
    weights = [arrays[f"W{i}"] for i in range(1, n_layers + 1)]
    biases = [arrays[f"b{i}"] for i in range(1, n_layers + 1)]
    return Network.from_arrays(weights, biases, meta["activation"], meta.get("init"), conv_specs=specs,
                               image_shape=image_shape)


def _check_arrays(arrays: dict, weight_shapes: list, label: str) -> None:
    """Exactly W1.., b1.. of these weight shapes (biases: the last axis), one float type, finite."""
    n_layers = len(weight_shapes)
    expected = {f"{p}{i}" for p in "Wb" for i in range(1, n_layers + 1)}
    present = set(arrays) - {"metadata"}
    if present != expected:
        missing, extra = sorted(expected - present), sorted(present - expected)
        raise ModelFileError(f"{label}: arrays do not match the architecture"
                             + (f"; missing {missing}" if missing else "")
                             + (f"; unexpected {extra}" if extra else ""))
    dtypes = set()
    for layer, shape in enumerate(weight_shapes, start=1):
        for name, want in ((f"W{layer}", shape), (f"b{layer}", shape[-1:])):
            array = arrays[name]
            if array.shape != tuple(want):
                raise ModelFileError(f"{label}: {name} has shape {array.shape}, expected {tuple(want)}")
            if array.dtype not in (np.float32, np.float64):
                raise ModelFileError(f"{label}: {name} has dtype {array.dtype}, expected float32/64")
            if not np.isfinite(array).all():
                raise ModelFileError(f"{label}: {name} contains NaN or infinite values")
            dtypes.add(array.dtype)
    if len(dtypes) != 1:
        raise ModelFileError(f"{label}: layers mix float types {sorted(map(str, dtypes))}")


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot store {type(value).__name__} in model metadata")
