"""Hidden space: about 1,000 images the network never trained on, placed in 2-D by one layer's
activations (the input pixels, each hidden layer, the output scores), coloured by class;
then the same map replayed epoch by epoch from the run's weight snapshots, with how far apart
the classes are at each epoch.

Widgets: ``inside_space_layer``, ``inside_space_method``, ``inside_space_tab``,
``inside_space_epoch`` and ``inside_space_play`` (the replay, ``ui/replay.py``);
the remembered choice ``space_image`` is the image last clicked.
"""

import numpy as np
import streamlit as st

from lab import hidden_space
from nn import analysis
from nn.projection import layer_names
from ui import entry_script, replay, state
from ui.current_model import class_names, current_model, noun, refuse_mismatch, test_set_or_warning
from ui.figures import hidden_space as space_figures
from ui.figures import images as image_figures
from ui.widgets import (
    bind,
    cached_for_model,
    chart,
    choices,
    choose,
    lazy_tabs,
    model_cache_entry,
    projector,
    remember,
)

entry_script.require()

METHODS = {"pca": "PCA (straight-line view, NumPy)", "tsne": "t-SNE (neighbours kept close, scikit-learn)"}
AXES = {"pca": ("direction of most spread (PCA 1)", "second most (PCA 2)"), "tsne": ("t-SNE 1", "t-SNE 2")}


def held_out(run) -> hidden_space.HeldOut:
    return cached_for_model(run, "space_images", lambda: hidden_space.held_out_images(
        state.dataset(), test_set_or_warning()))


def pick_image(fig_key: str) -> None:
    index = space_figures.image_index_from_selection(st.session_state.get(fig_key))
    if index is not None:
        choose("space_image", index)


def picked_image(run, images: hidden_space.HeldOut, predictions) -> None:
    """The image last clicked on the map, with its label and the network's answer."""
    index = choices().get("space_image")
    if not isinstance(index, int) or not 0 <= index < len(images.labels):
        st.caption("Click a point to see its image here.")
        return
    names = class_names(run)
    trace = analysis.trace_image(run.network, images.images[index])
    label, answer = int(images.labels[index]), int(predictions[index])
    verdict = "right" if label == answer else "wrong"
    chart(image_figures.digit_figure(images.images[index], title=f"image {index}: a {names[label]}", height=230),
          "space_image_chart")
    st.markdown(f"Read as **{names[answer]}** ({trace.probabilities[answer]:.0%} sure): **{verdict}**.")


def map_tab(run, images, layer: int, method: str, proj: bool) -> None:
    def build():
        return hidden_space.layer_map(run.network, images, layer, method)

    name = f"space_map:{layer}:{method}"
    if method == "tsne" and model_cache_entry(name) is None:
        with st.spinner("t-SNE takes a few seconds…"):
            space_map = cached_for_model(run, name, build)
    else:
        space_map = cached_for_model(run, name, build)
    names, layer_name = class_names(run), layer_names(run.network)[layer]
    selected = choices().get("space_image")
    fig = space_figures.hidden_space_figure(
        space_map.coordinates, images.labels, space_map.predictions, names, axis_titles=AXES[method],
        title=f"{images.description} seen by {layer_name}", selected=selected if isinstance(selected, int) else None,
        projector=proj)
    left, right = st.columns([3, 1])
    with left:
        chart(fig, "space_map_chart", on_select=lambda: pick_image("space_map_chart"), selection_mode="points")
    with right:
        st.metric("Classes apart", f"{space_map.separation:.0%}",
                  help="Nearest-centre accuracy in this 2-D map: each image is given the class whose centre "
                       f"(the big label) is closest. Chance is {1 / len(names):.0%}.")
        if method == "pca":
            st.caption(f"The two axes show {space_map.explained.sum():.0%} of how much the {len(images.labels):,} "
                       "points spread in this layer's full space.")
        picked_image(run, images, space_map.predictions)
    wrong = int(np.count_nonzero(space_map.predictions != images.labels))
    st.caption(f"Each point is one image, coloured by its true {noun(run)}; the {wrong} crosses are images the "
               f"network reads wrong. Look for the {noun(run, True)} forming clusters from layer to layer: in the "
               "pixels they overlap, in the hidden layers they pull apart, in the output scores each sits in its "
               "own corner. Mistakes sit between clusters or inside another one.")


def replay_tab(run, images, layer: int, proj: bool) -> None:
    snapshots = run.history.snapshots
    if len(snapshots) < 2:
        st.info("This run kept fewer than two weight snapshots (a restored or uploaded model), so there is no "
                "training to replay.")
        return
    frames = cached_for_model(run, f"space_replay:{layer}", lambda: hidden_space.replay(
        run.network, snapshots, images, layer))
    names = class_names(run)
    st.markdown("The same images, seen by the same layer **after each epoch**, from the weights the run kept. "
                "Each frame is that epoch's own PCA map, turned (never stretched) to match the last one, on "
                "fixed axes: watch the classes pull apart.")

    def draw(index: int) -> None:
        left, right = st.columns([3, 1])
        with left:
            chart(space_figures.hidden_space_figure(
                frames.coordinates[index], images.labels, frames.predictions[index], names,
                axis_titles=AXES["pca"], limits=frames.limits, projector=proj,
                title=f"epoch {frames.epochs[index]}: {layer_names(run.network)[layer]}"), "space_replay_chart")
        with right:
            st.metric(f"Classes apart at epoch {frames.epochs[index]}", f"{frames.separation[index]:.0%}")
            chart(space_figures.separation_figure(frames.epochs, frames.separation, index, n_classes=len(names),
                                                  projector=proj), "space_separation_chart")
            st.caption("Nearest-centre accuracy of each epoch's map; dotted: chance.")

    replay.player("space_epoch", len(frames.epochs), draw, format_func=lambda i: f"epoch {frames.epochs[i]}",
                  button_key="inside_space_play", busy=state.job_pending())


def space_page(run) -> None:
    images = held_out(run)
    proj = projector()
    names = layer_names(run.network)
    left, right = st.columns(2)
    layer_key = bind("space_layer", len(names) - 2, lambda v: v in range(len(names)))
    left.selectbox("Layer", range(len(names)), format_func=names.__getitem__, key=layer_key,
                   help="Where in the network to look: the raw pixels, a hidden layer's activations, or "
                        "the output scores before the softmax.")
    remember("space_layer")
    methods = list(METHODS) if hidden_space.tsne_available() else ["pca"]
    method_key = bind("space_method", "pca", lambda v: v in methods)
    right.radio("Map", methods, format_func=METHODS.get, key=method_key, horizontal=True,
                help="PCA shows the two directions in which the points spread most (straight lines of the "
                     "space, distances kept as far as two dimensions can). t-SNE bends the space so that "
                     "near neighbours stay near: clusters show better, distances between them mean little.")
    remember("space_method")
    if len(methods) == 1:
        right.caption(hidden_space.TSNE_NOTE)
    layer, method = int(st.session_state[layer_key]), st.session_state[method_key]
    tabs = lazy_tabs(("Trained network", "Through training"), "inside_space_tab",
                     [lambda: map_tab(run, images, layer, method, proj), lambda: replay_tab(run, images, layer, proj)])
    if not tabs[1].open:
        replay.stop("space_epoch")  # leaving the replay pauses it


st.title("Hidden space")
st.markdown("Every layer turns an image into a list of numbers: a point in a space with one direction per unit. "
            "Images the network reads alike end up close together. Squashed to two dimensions, you can see "
            "the classes untangle from layer to layer, and during training.")
run = current_model("inside_space_train_default", "the map needs a trained network.")
if run is not None and not refuse_mismatch(run):
    space_page(run)
