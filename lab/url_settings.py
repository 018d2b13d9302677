"""The Train page's settings in the page address: shareable links (no Streamlit).

A settings dict (see :mod:`lab.settings`) becomes short query parameters and back::

    ?ep=15&lr=0.001&w=128&hl=1&act=relu&opt=adam&bs=128&l2=0&seed=0

``bs`` is ``full`` for full-batch gradient descent, else the mini-batch size. A network
with convolution layers adds ``cl`` (conv layers), ``cf`` and ``cf2`` (filters of the
first and second conv layer), ``ck`` (kernel size), ``cp`` (padding: valid or same) and
``pool`` (1 or 0), e.g. ``&cl=2&cf=16&cf2=32&ck=3&cp=valid&pool=1``; a link with settings but no ``cl`` describes a
dense network (as every link made before convolution existed does). ``aug=1`` trains with
augmentation (random shifts and rotations); a link with settings but no ``aug`` trains
without (as every link made before it existed does). A link
typed or edited by hand may hold anything: every value is brought into the range the
Train page's controls allow (the learning rate and L2 snap to the nearest allowed
value on a log scale; epochs, width, layers, batch size and seed are clamped; an
unknown activation or optimiser falls back to the default), with a note per change.
Other parameters (``lab``, ``challenge``) are left alone.
"""

from __future__ import annotations

import math
from urllib.parse import urlencode

from .settings import (
    ACTIVATION_CHOICES,
    ALL_DEFAULTS,
    BATCH_FULL,
    BATCH_MINI,
    CONV_PADDINGS,
    DEFAULT_SETTINGS,
    OPTIMIZERS,
    clamp_setting,
    setting,
)

# setting name -> query parameter
SHORT = {
    "epochs": "ep",
    "learning_rate": "lr",
    "width": "w",
    "layers": "hl",
    "activation": "act",
    "optimizer": "opt",
    "batch_size": "bs",
    "l2": "l2",
    "seed": "seed",
}
CONV_SHORT = {"conv_layers": "cl", "conv_filters": "cf", "conv_filters_2": "cf2", "conv_kernel": "ck",
              "conv_padding": "cp", "conv_pool": "pool"}
SHORT.update(CONV_SHORT)
SHORT["augment"] = "aug"
PARAMS = tuple(SHORT.values())
FULL = "full"  # bs=full: full-batch gradient descent
_INTEGERS = ("epochs", "width", "layers", "batch_size", "seed", "conv_layers", "conv_filters", "conv_filters_2",
             "conv_kernel")
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")
MAX_PARAM_LENGTH = 40  # longer values are refused before parsing


def _number(value: float) -> str:
    return f"{value:g}"


def to_params(settings: dict) -> dict[str, str]:
    """The query parameters for ``settings`` (every knob, as short text)."""
    params = {
        "ep": str(int(settings["epochs"])),
        "lr": _number(float(settings["learning_rate"])),
        "w": str(int(settings["width"])),
        "hl": str(int(settings["layers"])),
        "act": str(settings["activation"]),
        "opt": str(settings["optimizer"]),
        "bs": FULL if settings["batch_mode"] == BATCH_FULL else str(int(settings["batch_size"])),
        "l2": _number(float(settings["l2"])),
        "seed": str(int(settings["seed"])),
    }
    if int(setting(settings, "conv_layers")):  # dense networks keep their links as before
        params.update({
            "cl": str(int(setting(settings, "conv_layers"))),
            "cf": str(int(setting(settings, "conv_filters"))),
            "cf2": str(int(setting(settings, "conv_filters_2"))),
            "ck": str(int(setting(settings, "conv_kernel"))),
            "cp": str(setting(settings, "conv_padding")),
            "pool": "1" if setting(settings, "conv_pool") else "0",
        })
    if setting(settings, "augment"):  # links without augmentation stay as they were
        params["aug"] = "1"
    return params


def has_settings(params) -> bool:
    """True when the address names at least one setting."""
    return any(name in params for name in PARAMS)


def first_value(value):
    """st.query_params gives strings; AppTest and parse_qs may give lists."""
    if isinstance(value, (list, tuple)):
        return value[-1] if value else ""
    return value


def from_params(params, base: dict | None = None) -> tuple[dict, list[str]]:
    """(settings, notes): ``base`` (default: the defaults) with the address's values applied.

    Never raises: a value that is not allowed is replaced and explained in ``notes``.
    """
    settings = dict(DEFAULT_SETTINGS if base is None else base)
    notes: list[str] = []
    for name, short in SHORT.items():
        if short in params:
            text = str(first_value(params[short])).strip()
            if len(text) > MAX_PARAM_LENGTH:
                text = text[:MAX_PARAM_LENGTH] + "…"
            notes += _apply_param(settings, name, short, text)
    if "cl" not in params and has_settings(params) and setting(settings, "conv_layers"):
        settings["conv_layers"] = 0  # a link without cl describes a dense network
    if "aug" not in params and has_settings(params) and setting(settings, "augment"):
        settings["augment"] = False  # and one without aug trains without augmentation
    if int(settings["layers"]) == 0 and not setting(settings, "conv_layers"):
        settings["layers"] = 1
        notes.append("hl=0: a network without convolution layers needs at least one hidden layer; using 1.")
    return settings, notes


def _apply_param(settings: dict, name: str, short: str, text: str) -> list[str]:
    """Put the address's ``text`` for setting ``name`` (parameter ``short``) into
    ``settings``, or its default when it is not allowed; the notes that explain it."""
    default = ALL_DEFAULTS[name]
    if name in ("conv_padding", "conv_pool", "augment"):
        value = text.lower()
        if name == "conv_padding" and value in CONV_PADDINGS:
            settings[name] = value
        elif name in ("conv_pool", "augment") and value in _TRUE + _FALSE:
            settings[name] = value in _TRUE
        else:
            settings[name] = default
            choices = ", ".join(CONV_PADDINGS) if name == "conv_padding" else "1 or 0"
            return [f"{short}={text!r} is not one of {choices}; using {default!r}."]
        return []
    if name == "batch_size" and text.lower() == FULL:
        settings["batch_mode"] = BATCH_FULL
        return []
    if name in ("activation", "optimizer"):
        value = text.lower()
        allowed = ACTIVATION_CHOICES if name == "activation" else OPTIMIZERS
        if value in allowed:
            settings[name] = value
            return []
        settings[name] = default
        return [f"{short}={text!r}: unknown {name}, using {default!r} (choices: {', '.join(allowed)})."]
    try:
        number = float(text)
        if not math.isfinite(number):
            raise ValueError
    except ValueError:
        settings[name] = default
        if name == "batch_size":
            settings["batch_mode"] = DEFAULT_SETTINGS["batch_mode"]
        return [f"{short}={text!r} is not a number; using {default:g}."]
    notes = []
    if name in _INTEGERS:
        whole = round(number) if abs(number) < 1e15 else int(math.copysign(1e15, number))
        if not number.is_integer():
            notes.append(f"{short}={text}: a whole number is needed; using {whole}.")
        number = whole
    value, note = clamp_setting(name, number)
    settings[name] = value
    if name == "batch_size":
        settings["batch_mode"] = BATCH_MINI
    if note:
        notes.append(f"{short}={text}: {note}")
    return notes


def query_string(settings: dict, extra: dict | None = None) -> str:
    """``ep=15&lr=0.001&...`` (plus ``extra`` parameters, e.g. a challenge)."""
    params = to_params(settings)
    if extra:
        params.update({k: str(v) for k, v in extra.items() if v not in (None, "")})
    return urlencode(params)


def share_link(settings: dict, base_url: str = "", page: str = "train",
               extra: dict | None = None) -> str:
    """A link to the Train page with ``settings``: ``<base_url>/train?ep=...``.

    ``base_url`` is the app's address without a path (``http://host:8501``), or ""
    for a relative link. The ``lab`` parameter is never included: a lab id is private.
    """
    extra = {k: v for k, v in (extra or {}).items() if k != "lab"}
    base = base_url.rstrip("/")
    return f"{base}/{page}?{query_string(settings, extra)}"
