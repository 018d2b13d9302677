"""Digit Lab: `streamlit run app.py`. The pages (pages/) and each session's lifecycle:
set up the session, run the page, save the session's lab."""

from pathlib import Path

import streamlit as st

from ui import action_buttons, entry_script, resources, sidebar, state, workshop_link

st.set_page_config(page_title="Digit Lab", page_icon=":material/neurology:", layout="wide")
st.logo(str(Path(__file__).parent / "assets" / "logo.svg"), size="large")
resources.configure_process()
state.init()
state.hold_job()  # this page shows the lab's running job: it trains on while the page is away
workshop_link.apply_url_once()  # a shared link's settings and challenge, once per session
state.sync()

page = st.navigation([
    st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
    st.Page("pages/train.py", title="Train", icon=":material/model_training:"),
    st.Page("pages/weights.py", title="Weights", icon=":material/grid_on:"),
    st.Page("pages/gradients.py", title="Gradients", icon=":material/trending_down:"),
    st.Page("pages/activations.py", title="Activations", icon=":material/bolt:"),
    st.Page("pages/draw.py", title="Draw", icon=":material/draw:"),
    st.Page("pages/evaluate.py", title="Evaluate", icon=":material/fact_check:"),
    st.Page("pages/data.py", title="Data", icon=":material/dataset:"),
    st.Page("pages/models.py", title="Models", icon=":material/save:"),
    st.Page("pages/leaderboard.py", title="Leaderboard", icon=":material/leaderboard:"),
])
sidebar.render(job_progress=page.url_path != "train")  # Train shows the job itself
entry_script.mark()
try:
    page.run()
finally:
    action_buttons.drop_unhandled_click()
    state.persist()  # nothing lost: what changed of this session's lab goes to the database
resources.preload_data()
