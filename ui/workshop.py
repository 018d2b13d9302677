"""Workshop mode on the Train page (issue 8): settings in the address, presets, challenges,
the projector view. The logic lives in Streamlit-free modules (url_settings, presets,
challenges); this module only connects them to the session and the page.

Session state used here (per session):

* ``workshop_url_applied`` -- the address's settings were applied (once per session)
* ``workshop_url_notes``   -- what had to change in them (shown on the Train page)
* ``challenge_id``         -- the active challenge's id (None: free training)
* ``challenge_since``      -- the first run number trained under it (only those are judged)
* ``projector``            -- the sidebar's projector toggle (a widget key)
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

import streamlit as st

from lab import challenges as C
from lab import presets as P
from lab import settings as S
from lab import url_settings as U

from . import state

logger = logging.getLogger(__name__)

URL_APPLIED, URL_NOTES = "workshop_url_applied", "workshop_url_notes"
CHALLENGE, CHALLENGE_SINCE, CHALLENGE_NOTES = "challenge_id", "challenge_since", "challenge_notes"
CHALLENGE_PARAM = "challenge"
PROJECTOR = "projector"
PRESET_KEY, PRESET_NOTE = "workshop_preset", "workshop_preset_note"
CHALLENGE_KEY = "workshop_challenge"

PROJECTOR_CSS = """
<style>
html, body, [data-testid="stAppViewContainer"] { font-size: 22px !important; }
[data-testid="stMarkdownContainer"] p, [data-testid="stMarkdownContainer"] li,
[data-testid="stCaptionContainer"], [data-testid="stWidgetLabel"] p,
[data-testid="stText"], label, button p { font-size: 1.25rem !important; }
h1 { font-size: 3.2rem !important; }
h2, h3 { font-size: 2.2rem !important; }
[data-testid="stMain"] [data-testid="stMarkdownContainer"] p { color: #000 !important; }
</style>
"""


# -- challenges ----------------------------------------------------------------------------


@st.cache_resource(show_spinner=False)
def _load_challenges(path: str, mtime: float) -> tuple[tuple[C.Challenge, ...], str | None]:
    """The server's challenge file (read-only, the same for everyone; re-read when it changes)."""
    try:
        return tuple(C.load_file(path)), None
    except (OSError, C.ChallengeError) as error:
        logger.warning("challenge file %s: %s", path, error)
        return (), f"The challenge file could not be used: {error}"


def server_challenges() -> tuple[tuple[C.Challenge, ...], str | None]:
    path = C.server_file()
    try:
        mtime = path.stat().st_mtime
    except OSError:
        if path == C.DEFAULT_FILE:
            return (), None
        return (), f"The challenge file {path.name} was not found."
    return _load_challenges(str(path), mtime)


def challenge_by_id(ident) -> C.Challenge | None:
    for challenge in server_challenges()[0]:
        if challenge.id == ident:
            return challenge
    return None


def active_challenge() -> C.Challenge | None:
    return challenge_by_id(st.session_state.get(CHALLENGE))


def _activate(ident) -> None:
    challenge = challenge_by_id(ident)
    st.session_state[CHALLENGE] = challenge.id if challenge else None
    # The controls' ranges change with the challenge, which makes them new widgets:
    # forget the old ones so that they are drawn again from the session's settings.
    for key in [k for k in st.session_state if str(k).startswith(state.WIDGET_PREFIX)]:
        del st.session_state[key]
    st.session_state[CHALLENGE_SINCE] = st.session_state.get(state.NEXT_RUN, 1)
    st.session_state[CHALLENGE_NOTES] = enforce_challenge() if challenge else []


def enforce_challenge() -> list[str]:
    """Bring the session's settings (and the Train page's widgets) within the active
    challenge's rules; returns the notes. Call before the controls are drawn."""
    challenge = active_challenge()
    if challenge is None:
        return []
    settings, notes = challenge.apply(st.session_state[state.SETTINGS])
    _write_settings(settings)
    return notes


def _write_settings(settings: dict) -> None:
    """New settings for the session and for the Train page's widgets (before they are drawn)."""
    st.session_state[state.SETTINGS] = dict(settings)
    for name, value in settings.items():
        key = state.WIDGET_PREFIX + name
        if key in st.session_state and st.session_state[key] != value:
            st.session_state[key] = value


# -- the address ---------------------------------------------------------------------------


def apply_url_once() -> None:
    """On a session's first run: the address's settings and challenge (app.py calls it)."""
    if st.session_state.get(URL_APPLIED):
        return
    st.session_state[URL_APPLIED] = True
    params = st.query_params.to_dict()
    notes: list[str] = []
    if U.has_settings(params):
        settings, notes = U.from_params(params, st.session_state[state.SETTINGS])
        for key in [k for k in st.session_state if str(k).startswith(state.WIDGET_PREFIX)]:
            del st.session_state[key]
        st.session_state[state.SETTINGS] = settings
    ident = params.get(CHALLENGE_PARAM)
    if ident:
        if challenge_by_id(ident) is None:
            notes.append(f"challenge={str(ident)[:40]!r} is not one of this server's challenges.")
        else:
            _activate(ident)
            notes += st.session_state.pop(CHALLENGE_NOTES, [])
    st.session_state[URL_NOTES] = notes
    st.session_state["workshop_from_link"] = U.has_settings(params)


def mirror_url() -> None:
    """Keep the address equal to the current settings (and challenge); ``lab`` stays."""
    wanted = U.to_params(st.session_state[state.SETTINGS])
    for name, value in wanted.items():
        if st.query_params.get(name) != value:
            st.query_params[name] = value
    for name in U.CONV_SHORT.values():  # convolution turned off: its parameters go
        if name not in wanted and name in st.query_params:
            del st.query_params[name]
    challenge = active_challenge()
    if challenge is not None:
        if st.query_params.get(CHALLENGE_PARAM) != challenge.id:
            st.query_params[CHALLENGE_PARAM] = challenge.id
    elif CHALLENGE_PARAM in st.query_params:
        del st.query_params[CHALLENGE_PARAM]


def _base_url() -> str:
    try:
        url = st.context.url or ""
    except Exception:  # noqa: BLE001 - no browser (AppTest): a relative link
        url = ""
    if not url:
        return ""
    parts = urlsplit(url)
    path = parts.path.rstrip("/")
    if path.endswith("/train"):
        path = path[: -len("/train")]
    return f"{parts.scheme}://{parts.netloc}{path}"


def share_link() -> str:
    challenge = active_challenge()
    extra = {CHALLENGE_PARAM: challenge.id} if challenge else None
    return U.share_link(st.session_state[state.SETTINGS], _base_url(), extra=extra)


def url_notes() -> None:
    """What the link's settings were (and what had to change), once."""
    notes = st.session_state.pop(URL_NOTES, None)
    from_link = st.session_state.pop("workshop_from_link", False)
    if from_link and not notes:
        st.info("Settings loaded from the link.", icon=":material/link:")
    if notes:
        st.warning("Settings from the link were adjusted:\n\n" +
                   "\n".join(f"- {note}" for note in notes), icon=":material/tune:")


def share_panel() -> None:
    mirror_url()
    with st.expander("Share these settings", icon=":material/share:"):
        st.caption("Copy this link (the copy icon is at the right of the box): it opens the "
                   "Train page with these settings. Your lab and runs stay private.")
        st.code(share_link(), language=None, wrap_lines=True)


# -- presets -------------------------------------------------------------------------------


def load_preset() -> None:
    """on_click: the chosen preset's settings (within the active challenge) into the page."""
    option = st.session_state.get(PRESET_KEY)
    if not option or option[0] not in P.BY_ID:
        return
    preset = P.BY_ID[option[0]]
    # A dense preset also switches convolution off (its dict predates the conv knobs).
    settings = {**S.CONV_DEFAULTS, **preset.settings(option[1])}
    notes = []
    challenge = active_challenge()
    if challenge is not None:
        settings, notes = challenge.apply(settings)
    _write_settings(settings)
    for name, value in settings.items():
        st.session_state[state.WIDGET_PREFIX + name] = value
    note = f"Loaded “{P.label(option)}”. Look for: {preset.look_for} Where: {preset.page}"
    if notes:
        note += " (The challenge changed: " + " ".join(notes) + ")"
    st.session_state[PRESET_NOTE] = note


def preset_panel() -> None:
    options = P.options()
    if st.session_state.get(PRESET_KEY) not in options:
        st.session_state[PRESET_KEY] = options[0]
    with st.container(border=True):
        st.selectbox("Preset experiment", options, key=PRESET_KEY, format_func=P.label)
        st.button("Load preset", on_click=load_preset, key="load_preset", icon=":material/science:",
                  disabled=state.job_pending())
        preset = P.BY_ID[st.session_state[PRESET_KEY][0]]
        note = st.session_state.get(PRESET_NOTE)
        if note:
            st.success(note, icon=":material/science:")
        else:
            st.caption(f"{preset.look_for} *Where:* {preset.page}")


# -- the challenge panel -------------------------------------------------------------------


def _on_challenge_change() -> None:
    _activate(st.session_state.get(CHALLENGE_KEY))


def challenge_panel() -> C.Challenge | None:
    """Pick a challenge; show the active one's goal and rules. Returns it."""
    challenges, error = server_challenges()
    notes = enforce_challenge()  # settings from elsewhere (a lab, a link) keep the rules too
    if notes:
        st.session_state[CHALLENGE_NOTES] = [*st.session_state.get(CHALLENGE_NOTES, []), *notes]
    if error:
        st.warning(error)
    if not challenges:
        return None
    ids = ["", *(c.id for c in challenges)]  # "": free training (None would read "Choose")
    titles = {c.id: c.title for c in challenges}
    if st.session_state.get(CHALLENGE) not in ids:
        st.session_state[CHALLENGE] = None
    st.session_state[CHALLENGE_KEY] = st.session_state.get(CHALLENGE) or ""
    st.selectbox("Challenge", ids, key=CHALLENGE_KEY, on_change=_on_challenge_change,
                 format_func=lambda i: titles.get(i, "None: free training"),
                 disabled=state.job_pending())
    challenge = active_challenge()
    notes = st.session_state.pop(CHALLENGE_NOTES, None)
    if challenge is not None:
        rules = " · ".join(challenge.rules_text())
        st.info(f"**Challenge: {challenge.title}**  \n{challenge.description}  \n"
                f"Goal: {challenge.goal_text()}. Rules: {rules}.", icon=":material/flag:")
        if notes:
            st.caption("Settings changed for the challenge: " + " ".join(notes))
    return challenge


def challenge_result() -> None:
    """Pass or fail for the latest run trained under the active challenge."""
    challenge = active_challenge()
    runs = state.runs()
    if challenge is None or not runs or state.job_pending():
        return
    run = runs[-1]
    if run.number < st.session_state.get(CHALLENGE_SINCE, 1):
        return
    passed, reasons = challenge.judge(run)
    text = "; ".join(reasons)
    if passed:
        st.success(f"Challenge passed with run {run.number}: {text}.", icon=":material/emoji_events:")
    else:
        st.error(f"Challenge not passed by run {run.number}: {text}.", icon=":material/flag:")


# -- projector -----------------------------------------------------------------------------


def projector() -> bool:
    return bool(st.session_state.get(PROJECTOR, False))


def projector_toggle() -> None:
    """The sidebar toggle, and the large-font style when it is on."""
    st.toggle("Projector view", key=PROJECTOR,
              help="Large fonts, high-contrast charts and fewer controls, for a room.")
    if projector():
        st.html(PROJECTOR_CSS)
