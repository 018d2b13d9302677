"""The Step by step page's equations as LaTeX (for ``st.latex``), with the step's own numbers
plugged in: each formula first, then the values of the chosen example ``e`` and unit ``j``
(a :class:`lab.step_run.UnitStep`). Plain functions, no Streamlit.

Every number written here is one the engine computed (the record of the step); the only
arithmetic is for reading: a sum split into its largest terms and the rest, and Adam's
bias-corrected moments written out from the stored ones.
"""

from __future__ import annotations

import math

import numpy as np

from ui.figures.tiles import IMAGE_SIDE

ACTIVATION_FORMULAS = {
    "relu": r"\max(0,\ z_j)", "leaky_relu": r"\max(0.01\,z_j,\ z_j)",
    "sigmoid": r"\frac{1}{1 + e^{-z_j}}", "tanh": r"\tanh(z_j)",
}
ACTIVATION_NAMES = {"relu": r"\mathrm{ReLU}", "leaky_relu": r"\mathrm{LeakyReLU}",
                    "sigmoid": r"\sigma", "tanh": r"\tanh"}


def number(value: float, digits: int = 3) -> str:
    """``value`` in LaTeX: 3 significant digits, powers of ten written out (``1.2 \\times 10^{-5}``)."""
    value = float(value)
    if not math.isfinite(value):
        return r"\text{" + str(value) + "}"
    text = f"{value:.{digits}g}"
    if "e" in text:
        mantissa, exponent = text.split("e")
        text = rf"{mantissa} \times 10^{{{int(exponent)}}}"
    return text.replace("-", "-\\,", 1) if text.startswith("-") else text


def bracketed(value: float) -> str:
    """A number as a term of a product or sum: negative ones in brackets."""
    return f"({number(value)})" if value < 0 else number(value)


def pixel_name(pixel: int) -> str:
    row, col = divmod(int(pixel), IMAGE_SIDE)
    return rf"\text{{pixel }}({row},{col})"


def pre_activation(u) -> str:
    """``z_j = sum_i w_ij x_i + b_j``, then the biggest terms (numbered as on the map), the
    rest summed, the bias, and z as the forward pass computed it."""
    top = [int(i) for i in u.top_pixels]
    rest = float(np.sum(np.delete(u.contributions, top), dtype=np.float64))
    n_rest = len(u.contributions) - len(top)
    terms = [rf"\underbrace{{{bracketed(u.contributions[i])}}}_{{{k}}}" for k, i in enumerate(top, start=1)]
    terms.append(rf"\underbrace{{{bracketed(rest)}}}_{{\text{{other {n_rest} pixels}}}}")
    terms.append(rf"\underbrace{{{bracketed(u.bias)}}}_{{b_{{{u.unit}}}}}")
    j = u.unit
    return (rf"z_{{{j}}} = \sum_{{i=1}}^{{784}} w_{{i,{j}}}\, x_i + b_{{{j}}} = "
            + " + ".join(terms) + rf" = {number(u.z)}")


def activation(u, name: str) -> str:
    """``a_j = f(z_j)`` with the numbers."""
    formula = ACTIVATION_FORMULAS[name].replace("z_j", f"z_{{{u.unit}}}")
    return rf"a_{{{u.unit}}} = {formula} = {ACTIVATION_NAMES[name]}({number(u.z)}) = {number(u.a)}"


def output(u, batch_loss: float, batch_size: int, deep: bool, class_names) -> list[str]:
    """The logits, the softmax of the true class, the example's loss and the batch's."""
    y = class_names[u.label]
    first = (r"z^{(L)}_k = \sum_j a_j\, W^{(2)}_{j,k} + b^{(2)}_k" if not deep
             else r"z^{(L)}_k:\ \text{the same, through every hidden layer}")
    return [
        first,
        rf"p_k = \frac{{e^{{z^{{(L)}}_k}}}}{{\sum_l e^{{z^{{(L)}}_l}}}}, \qquad p_{{{y}}} = "
        rf"\frac{{e^{{{number(u.logits[u.label])}}}}}{{\sum_l e^{{z^{{(L)}}_l}}}} = {number(u.probabilities[u.label])}",
        rf"\ell_e = -\log p_{{{y}}} = -\log {number(u.probabilities[u.label])} = {number(u.example_loss)}",
        rf"J = \frac{{1}}{{m}} \sum_{{e=1}}^{{m}} \ell_e = \frac{{1}}{{{batch_size}}}(\ell_1 + \dots + "
        rf"\ell_{{{batch_size}}}) = {number(batch_loss)}",
    ]


def output_error(u, batch_size: int, class_names) -> str:
    """``dJ/dz^(L)_k = (p_k - y_k) / m``, for the true class."""
    y = class_names[u.label]
    return (rf"\frac{{\partial J}}{{\partial z^{{(L)}}_k}} = \frac{{p_k - y_k}}{{m}}, \qquad "
            rf"\frac{{\partial J}}{{\partial z^{{(L)}}_{{{y}}}}} = \frac{{{number(u.probabilities[u.label])} - 1}}"
            rf"{{{batch_size}}} = {number(u.output_error[u.label])}")


def hidden_error(u, name: str) -> list[str]:
    """``dJ/da_j`` from the layer above, then ``dJ/dz_j = dJ/da_j f'(z_j)``."""
    j = u.unit
    return [
        rf"\frac{{\partial J}}{{\partial a_{{{j}}}}} = \sum_k W^{{(2)}}_{{{j},k}}\, \frac{{\partial J}}{{\partial "
        rf"z^{{(2)}}_k}} = {number(u.grad_a)}",
        rf"\frac{{\partial J}}{{\partial z_{{{j}}}}} = \frac{{\partial J}}{{\partial a_{{{j}}}}}\, "
        rf"{ACTIVATION_NAMES[name]}'(z_{{{j}}}) = {bracketed(u.grad_a)} \times {number(u.derivative)} = "
        rf"{number(u.grad_z)}",
    ]


def weight_gradient(u, pixel: int, batch_size: int) -> list[str]:
    """``dJ/dw_ij = sum_e x_ei dJ/dz_ej`` and, for ``pixel``, this example's term and the sum."""
    j = u.unit
    return [
        rf"\frac{{\partial J}}{{\partial w_{{i,{j}}}}} = \sum_{{e=1}}^{{{batch_size}}} x_{{e,i}}\, "
        rf"\frac{{\partial J}}{{\partial z_{{e,{j}}}}}",
        rf"{pixel_name(pixel)}:\quad x_{{i}} \frac{{\partial J}}{{\partial z_{{{j}}}}} = {number(u.image[pixel])} "
        rf"\times {bracketed(u.grad_z)} = {number(u.example_share[pixel])} \text{{ (this example)}},\quad "
        rf"\frac{{\partial J}}{{\partial w_{{i,{j}}}}} = {number(u.grad_weights[pixel])} \text{{ (the batch)}}",
    ]


def update(u, pixel: int, optimizer: str, settings: dict, learning_rate: float) -> list[str]:
    """The optimiser's rule, then the numbers for ``pixel``: its gradient (with weight decay
    added, as the optimiser does), state, step and new weight."""
    i, eta = pixel, number(learning_rate)
    decay = float(settings.get("weight_decay", 0.0))
    g = float(u.grad_weights[i]) + decay * float(u.weights[i])
    lines = [rf"g = \frac{{\partial J}}{{\partial w}} + \lambda w,\ \lambda = {number(decay)}:\quad "
             rf"g_{{{pixel_name(i)}}} = {number(g)}"] if decay else []
    g_name = "g" if decay else r"\frac{\partial J}{\partial w}"
    change, after = number(u.change[i]), number(u.weights_after[i])
    if optimizer == "sgd":
        lines.append(rf"\Delta w = -\eta\, {g_name} = -{eta} \times {bracketed(g)} = {change}")
    elif optimizer == "momentum":
        mu, v = number(settings["momentum"]), number(u.state["v"][i])
        lines.append(rf"v \leftarrow {mu}\, v + {g_name} = {v}")
        lines.append(rf"\Delta w = -\eta\,({g_name} + {mu}\, v) = {change}" if settings.get("nesterov")
                     else rf"\Delta w = -\eta\, v = -{eta} \times {bracketed(u.state['v'][i])} = {change}")
    elif optimizer == "rmsprop":
        rho, s = settings["rho"], u.state["s"][i]
        lines.append(rf"s \leftarrow {number(rho)}\, s + {number(1 - rho)}\, {g_name}^2 = {number(s)}")
        lines.append(rf"\Delta w = -\eta\, \frac{{{g_name}}}{{\sqrt{{s}} + \epsilon}} = -{eta} \times "
                     rf"\frac{{{bracketed(g)}}}{{\sqrt{{{number(s)}}} + {number(settings['eps'])}}} = {change}")
    elif optimizer == "adam":
        lines += _adam(u.state["m"][i], u.state["v"][i], settings, g_name, eta, change)
    lines.append(rf"w_{{\text{{new}}}} = w + \Delta w = {number(u.weights[i])} + {bracketed(u.change[i])} = {after}")
    return lines


def _adam(m: float, v: float, settings: dict, g_name: str, eta: str, change: str) -> list[str]:
    b1, b2, t = settings["beta1"], settings["beta2"], int(settings["step_count"])
    m_hat, v_hat = m / (1 - b1**t), v / (1 - b2**t)  # written out from the stored moments, for reading
    return [
        rf"m \leftarrow {number(b1)}\, m + {number(1 - b1)}\, {g_name} = {number(m)}, \qquad "
        rf"v \leftarrow {number(b2)}\, v + {number(1 - b2)}\, {g_name}^2 = {number(v)}",
        rf"\hat m = \frac{{m}}{{1 - {number(b1)}^{{{t}}}}} = {number(m_hat)}, \qquad "
        rf"\hat v = \frac{{v}}{{1 - {number(b2)}^{{{t}}}}} = {number(v_hat)} \qquad (t = {t} \text{{ steps}})",
        rf"\Delta w = -\eta\, \frac{{\hat m}}{{\sqrt{{\hat v}} + \epsilon}} = -{eta} \times "
        rf"\frac{{{bracketed(m_hat)}}}{{\sqrt{{{number(v_hat)}}} + {number(settings['eps'])}}} = {change}",
    ]


def losses(before: float, after: float) -> str:
    return (rf"J_{{\text{{before}}}} = {number(before, 4)} \quad\longrightarrow\quad "
            rf"J_{{\text{{after}}}} = {number(after, 4)} \qquad (\text{{the same batch}})")
