"""Digit Lab: `streamlit run app.py`. The pages (pages/) and each session's lifecycle:
set up the session, run the page, save the session's lab."""

from pathlib import Path

import streamlit as st

from ui import action_buttons, entry_script, lesson_panel, navigation, resources, sidebar, state, uploads, workshop_link
from ui.workshop_lock import hidden_pages

st.set_page_config(page_title="Digit Lab", page_icon=":material/neurology:", layout="wide")
st.logo(str(Path(__file__).parent / "assets" / "logo.svg"), size="large")
resources.configure_process()
state.init()
state.hold_job()  # this page shows the lab's running job: it trains on while the page is away
workshop_link.apply_url_once()  # a shared link's settings, challenge, lock and lesson, once per session
state.sync()

page = navigation.navigation(hidden_pages())  # the pages (ui/navigation.py) but those a locked link hides
lesson_panel.render(page.url_path or navigation.DEFAULT)  # may open the lesson step's page
sidebar.render(job_progress=page.url_path != "train")  # Train shows the job itself
entry_script.mark()
try:
    page.run()
finally:
    action_buttons.drop_unhandled_click()
    uploads.release_unheld()  # no session keeps uploaded bytes no uploader shows
    state.persist()  # nothing lost: what changed of this session's lab goes to the database
resources.preload_data()
