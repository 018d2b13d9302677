"""Named, explained experiments a learner loads in one click (no Streamlit).

Each preset is one or two complete settings dicts (two for a comparison: train one,
then the other, and compare them on the Models page or in the run history), a sentence
on what to look for and the page that shows it.
"""

from __future__ import annotations

from dataclasses import dataclass

from .run_cost import config_parameters
from .settings import (
    BATCH_FULL,
    BATCH_MINI,
    CONV_DEFAULTS,
    DEFAULT_SETTINGS,
    architecture_text,
    recommended_conv_settings,
    to_config,
)


def _settings(**changes) -> dict:
    values = dict(DEFAULT_SETTINGS)
    values.update(changes)
    return values



def _cnn_settings() -> dict:
    """The engine's recommended small CNN (nn.conv.RECOMMENDED_CONV_CONFIG) as page settings,
    or, should it ever need a knob the page lacks, the one it recommended when this was
    written (conv 16@3x3 -> pool -> conv 32@3x3 -> pool -> 10, Adam 0.002, batch 64)."""
    try:
        settings = recommended_conv_settings()
        to_config(settings)
        return settings
    except (KeyError, IndexError, TypeError, ValueError):
        return {**DEFAULT_SETTINGS, **CONV_DEFAULTS, "epochs": 10, "learning_rate": 0.002, "layers": 0,
                "batch_size": 64, "conv_layers": 2, "conv_filters": 16, "conv_filters_2": 32, "conv_kernel": 3}


_CNN_SETTINGS = _cnn_settings()
_CNN = to_config(_CNN_SETTINGS)


@dataclass(frozen=True)
class Preset:
    id: str
    title: str
    variants: tuple[tuple[str, dict], ...]  # (label, settings), one or two
    look_for: str  # one sentence
    page: str  # where it shows

    def settings(self, variant: int = 0) -> dict:
        return dict(self.variants[variant][1])


PRESETS: tuple[Preset, ...] = (
    Preset(
        "classic", "The classic 784-10-10, batch gradient descent",
        (("784-10-10", _settings(epochs=100, learning_rate=0.5, width=10, layers=1,
                                  activation="sigmoid", optimizer="sgd",
                                  batch_mode=BATCH_FULL)),),
        "One small sigmoid layer, one step per epoch on all images: a smooth, slowly falling "
        "loss curve that still reaches about 85-90%.",
        "Train (curves), then Weights to see the ten units' input templates."),
    Preset(
        "too_high_lr", "Too high a learning rate",
        (("lr 10", _settings(epochs=10, learning_rate=10.0, width=64, optimizer="sgd",
                             batch_mode=BATCH_MINI, batch_size=64)),),
        "The steps overshoot: the loss jumps up instead of down and the run diverges "
        "(the page says so) — lower the learning rate and try again.",
        "Train (loss curve and the divergence warning)."),
    Preset(
        "dead_relus", "Dead ReLUs",
        (("ReLU, lr 1, SGD", _settings(epochs=10, learning_rate=1.0, width=64,
                                       activation="relu", optimizer="sgd",
                                       batch_mode=BATCH_MINI, batch_size=32)),),
        "Big early steps push many ReLU units below zero for every image; they stop learning "
        "and show as flat, blank tiles whose gradients stay zero.",
        "Weights (blank tiles) and Gradients (zero gradient maps)."),
    Preset(
        "adam_vs_sgd", "Adam vs SGD",
        (("1: Adam", _settings(epochs=10, learning_rate=0.001, width=64, optimizer="adam",
                               batch_mode=BATCH_MINI, batch_size=64)),
         ("2: SGD", _settings(epochs=10, learning_rate=0.001, width=64, optimizer="sgd",
                              batch_mode=BATCH_MINI, batch_size=64))),
        "Same network, same learning rate: train both and see Adam's loss fall much faster "
        "while plain SGD has barely moved.",
        "Train (run history), then Models to overlay both runs' curves."),
    Preset(
        "wide_vs_deep", "Wide vs deep",
        (("1: wide (1 x 256)", _settings(epochs=10, width=256, layers=1)),
         ("2: deep (4 x 32)", _settings(epochs=10, width=32, layers=4))),
        "A single wide layer against four narrow ones with far fewer weights: compare "
        "accuracy, training time and how the curves settle.",
        "Train (run history), then Models to compare."),
    Preset(
        "sigmoid_vanishing", "Sigmoid: vanishing gradients",
        (("4 sigmoid layers, SGD", _settings(epochs=10, learning_rate=0.1, width=64, layers=4,
                                             activation="sigmoid", optimizer="sgd",
                                             batch_mode=BATCH_MINI, batch_size=64)),),
        "Each sigmoid layer shrinks the gradient: the first layer's gradient norm is far "
        "smaller than the last's and the loss stays flat for a long time.",
        "Gradients (norms per layer over training)."),
    Preset(
        "small_cnn", "Small CNN (≈97%)",
        ((architecture_text(_CNN), _CNN_SETTINGS),),
        "Small filters slide over the image (then over the first layer's feature maps), each "
        "conv layer followed by a 2×2 max pool, and the output layer reads the last maps: about "
        f"97% on the real MNIST test set with {config_parameters(_CNN):,} weights (the default "
        "dense network has 101,770, and reaches about 93%), though each epoch takes longer.",
        "Weights (the filters), then Activations (each filter's feature map for one digit)."),
)
BY_ID = {preset.id: preset for preset in PRESETS}


def options() -> list[tuple[str, int]]:
    """(preset id, variant) for every loadable entry, in order."""
    return [(preset.id, index) for preset in PRESETS for index in range(len(preset.variants))]


def label(option: tuple[str, int]) -> str:
    preset = BY_ID[option[0]]
    if len(preset.variants) == 1:
        return preset.title
    return f"{preset.title} — {preset.variants[option[1]][0]}"
