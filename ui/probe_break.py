"""The Probe page's "Break it" tab: switch hidden units off (click their cells), prune the
smallest weights, add noise to the weights, and watch the validation accuracy; which units
matter most, ranked by the accuracy lost when each alone is switched off.

Widgets: ``inside_break_layer``, ``inside_off_<run>_<layer>`` (the units switched off, one
list per hidden layer of the current model), ``inside_break_prune``, ``inside_break_noise``,
``inside_break_seed``.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from nn import probe
from ui.figures import probe as probe_figures
from ui.figures import weights as weight_figures
from ui.probe_support import validation_set, with_progress
from ui.widgets import bind, cached_for_model, chart, choices, choose, model_cache_entry, remember

PRUNE_CURVE = (0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 98, 99)  # percent
NOISE_CURVE = (0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0)  # times each layer's RMS weight
TOP_UNITS = 12


def off_name(run, layer: int) -> str:
    return f"off_{run.number}_{layer}"


def off_key(run, layer) -> str:
    """The widget key of ``layer``'s units switched off, pre-filled from the remembered list."""
    return bind(off_name(run, layer.number), [],
                lambda v: isinstance(v, list) and all(isinstance(u, int) and 0 <= u < layer.n_units for u in v))


def units_off(run, layers) -> dict[int, list[int]]:
    """Hidden layer number -> the units switched off now (remembered per model and layer)."""
    return {layer.number: list(st.session_state[off_key(run, layer)]) for layer in layers
            if st.session_state[off_key(run, layer)]}


def toggle(run, layer: int, fig_name: str, chart_key: str) -> None:
    """The switchboard's on_select callback: a clicked unit goes off, or on again."""
    fig = model_cache_entry(fig_name)
    event = st.session_state.get(chart_key)
    unit = None if fig is None or event is None else probe_figures.unit_from_click(event, fig)
    if unit is None:
        return
    off = set(choices().get(off_name(run, layer), []))
    off ^= {unit}
    choose(off_name(run, layer), sorted(off))


def damaged(run, prune: float, noise: float, seed: int):
    """The current network pruned by ``prune`` percent and noised (cached per setting)."""
    if not prune and not noise:
        return run.network
    return cached_for_model(run, f"damaged:{prune}:{noise}:{seed}", lambda: probe.with_weight_noise(
        probe.pruned(run.network, prune / 100), noise, seed))


def damage_controls() -> tuple[float, float, int]:
    left, middle, right = st.columns([2, 2, 1])
    prune_key = bind("break_prune", 0, lambda v: isinstance(v, int) and 0 <= v <= 99)
    left.slider("Prune: the smallest weights set to 0 (% of each layer)", 0, 99, key=prune_key)
    remember("break_prune")
    noise_key = bind("break_noise", 0.0, lambda v: isinstance(v, float) and 0 <= v <= 4)
    middle.slider("Weight noise (× each layer's typical weight)", 0.0, 4.0, step=0.05, key=noise_key)
    remember("break_noise")
    seed_key = bind("break_seed", 0, lambda v: isinstance(v, int) and 0 <= v <= 999)
    right.number_input("Noise seed", 0, 999, step=1, key=seed_key)
    remember("break_seed")
    return float(st.session_state[prune_key]), float(st.session_state[noise_key]), int(st.session_state[seed_key])


def break_tab(run, proj: bool) -> None:
    network = run.network
    layers = probe.hidden_layers(network)
    images, labels = validation_set()
    st.markdown(
        "A trained network is a few matrices of numbers: what happens when some go? Switch hidden units off "
        "(their output becomes 0), set the smallest weights to 0 (pruning), or shake every weight a little "
        f"(noise), and watch the accuracy on the {len(labels)} validation images.")
    prune, noise, seed = damage_controls()
    off = units_off(run, layers)
    broken = damaged(run, prune, noise, seed)
    intact = cached_for_model(run, "break_intact", lambda: probe.accuracy(network, images, labels))
    now = probe.accuracy(broken, images, labels, off)
    n_off = sum(map(len, off.values()))
    left, middle, right = st.columns(3)
    change = 100 * (now - intact)
    left.metric("Accuracy now", f"{now:.1%}", delta=f"{change:+.1f} points" if round(change, 1) else None,
                help=f"On the {len(labels)} validation images. Intact: {intact:.1%}. "
                     f"Chance: {1 / network.layer_sizes[-1]:.0%}.")
    middle.metric("Units off", f"{n_off}", help="Switched off, in every hidden layer together.")
    zeros = sum(int(np.count_nonzero(w == 0)) for w in broken.weights)
    right.metric("Weights at 0", f"{zeros / sum(w.size for w in broken.weights):.0%}")
    if not layers:
        st.info("This network has no hidden layer: there are no units to switch off.", icon=":material/info:")
    else:
        switchboard(run, layers, proj)
    damage_curves(run, prune, noise, seed, images, labels, proj)


def switchboard(run, layers, proj: bool) -> None:
    network = run.network
    st.subheader("Switch units off")
    numbers = [layer.number for layer in layers]
    layer_key = bind("break_layer", numbers[-1], lambda v: v in numbers)
    if len(layers) > 1:
        st.radio("Layer", numbers, key=layer_key, horizontal=True, format_func=lambda n: layers[n - 1].name)
    remember("break_layer")
    layer = layers[int(st.session_state[layer_key]) - 1]
    unit_name = "filter" if layer.kind == "conv" else "unit"
    images, labels = validation_set()
    importance = with_progress(run, f"importance:{layer.number}", f"Switching each {unit_name} off in turn…",
                               lambda progress: probe.unit_importance(network, images, labels, layer.number, progress))
    name, key = off_name(run, layer.number), off_key(run, layer)
    off = list(st.session_state[key])
    choices()[name] = off  # what the multiselect changed, for the click and button callbacks
    fig_name = f"switchboard:{layer.number}:{tuple(off)}:{proj}"
    fig = cached_for_model(run, fig_name, lambda: probe_figures.switchboard_figure(
        importance.drops, off, unit_name=unit_name, projector=proj,
        title=f"{layer.name}: {layer.n_units} {unit_name}s, coloured by the accuracy lost when each alone is off"))
    chart_key = f"inside_switchboard_{layer.number}_{len(off)}_{hash(tuple(off)) % 10_000}"
    chart(fig, chart_key, on_select=lambda: toggle(run, layer.number, fig_name, chart_key), selection_mode="points")
    ranking = importance.ranking
    buttons = st.columns(4)
    buttons[0].button(f"Top {min(10, layer.n_units)} off", key="inside_break_top",
                      help=f"Switch off the {min(10, layer.n_units)} {unit_name}s whose loss costs most",
                      on_click=choose, args=(name, sorted(int(u) for u in ranking[:10])))
    buttons[1].button(f"Bottom {min(10, layer.n_units)} off", key="inside_break_bottom",
                      help=f"Switch off the {min(10, layer.n_units)} {unit_name}s whose loss costs least",
                      on_click=choose, args=(name, sorted(int(u) for u in ranking[-10:])))
    buttons[2].button(f"All {layer.n_units} off", key="inside_break_all", help="Chance level: why?",
                      on_click=choose, args=(name, list(range(layer.n_units))))
    buttons[3].button("All on", key="inside_break_none", on_click=choose, args=(name, []))
    st.multiselect(f"{unit_name.capitalize()}s switched off in {layer.name} (or click their cells)",
                   list(range(layer.n_units)), key=key, format_func=lambda u: f"{unit_name} {u}")
    remember(name)
    st.caption(f"Each cell is one {unit_name}: the brighter, the more accuracy is lost when it alone is switched "
               f"off (grey ✕: off now). Click a cell to switch it off or on. With all {layer.n_units} off the "
               f"next layer sees only zeros and gives the same answer for every image: chance level. "
               f"Intact: {importance.baseline:.1%}.")
    top = ranking[:TOP_UNITS]
    chart(probe_figures.importance_figure(top, importance.drops[top], unit_name=unit_name, projector=proj),
          "inside_break_importance")
    if layer.number == 1 and layer.kind == "dense" and network.layer_sizes[0] == 784:
        chart(weight_figures.weight_grid_figure(network.weights[0][:, top], unit_ids=top,
                                                columns=TOP_UNITS // 2 if proj else TOP_UNITS,
                                                height=420 if proj else 200, projector=proj,
                                                title="what these units look for (incoming weights)"),
              "inside_break_top_weights")
    st.caption(f"The {len(top)} {unit_name}s whose loss costs most, each switched off alone. What to look for: "
               f"a few matter a lot, most very little: the network spreads what it knows over many "
               f"{unit_name}s, so it survives losing any one.")


def damage_curves(run, prune: float, noise: float, seed: int, images, labels, proj: bool) -> None:
    st.subheader("Pruning and noise, all the way")
    network = run.network
    chance = 1 / network.layer_sizes[-1]

    def curve(progress, amounts, make):
        accuracies = []
        for k, amount in enumerate(amounts, 1):
            accuracies.append(probe.accuracy(make(amount), images, labels))
            progress(k / len(amounts))
        return accuracies

    pruning = with_progress(run, "prune_curve", "Pruning…", lambda progress: curve(
        progress, PRUNE_CURVE, lambda p: probe.pruned(network, p / 100)))
    noising = with_progress(run, f"noise_curve:{seed}", "Adding noise…", lambda progress: curve(
        progress, NOISE_CURVE, lambda s: probe.with_weight_noise(network, s, seed)))
    left, right = st.columns(2)
    with left:
        chart(probe_figures.damage_figure(PRUNE_CURVE, pruning, current=prune, chance=chance, percent_x=True,
                                          x_title="weights set to 0 (% of each layer, smallest first)",
                                          title="pruning the smallest weights", projector=proj),
              "inside_break_prune_curve")
    with right:
        chart(probe_figures.damage_figure(NOISE_CURVE, noising, current=noise, chance=chance,
                                          x_title="noise (× each layer's typical weight)",
                                          title="noise on every weight", projector=proj), "inside_break_noise_curve")
    st.caption(f"Validation accuracy with the network damaged by each amount (nothing switched off; dotted: the "
               f"sliders). {damage_note(pruning, noising)} What to look for: most of the small weights can go "
               "before the accuracy moves, and noise on every weight mostly averages out: a network is a "
               "vote of many small contributions.")


def damage_note(pruning, noising) -> str:
    """Where each curve first falls by more than a point, in words."""
    pruned = next((p for p, a in zip(PRUNE_CURVE, pruning) if a < pruning[0] - 0.01), None)
    noised = next((s for s, a in zip(NOISE_CURVE, noising) if a < noising[0] - 0.01), None)
    first = (f"Accuracy first drops by more than a point at {pruned}% pruned" if pruned is not None
             else "Even 99% pruned, this network keeps its accuracy within a point")
    second = (f"and with noise {noised:g} times the typical weight." if noised is not None
              else f"and keeps it with noise up to {NOISE_CURVE[-1]:g} times the typical weight.")
    return f"{first}, {second}"

