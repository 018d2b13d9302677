"""The lesson panel (top of the sidebar on every page; above the page in projector view): pick
a lesson, see the current step, its goal or question and whether it is done, Back / Next,
every step with what is done. The lessons and their checks are in ``lab/lessons.py``.

Entering a step loads its settings (into the Train page), fixes or hides its controls (the
step's lock, :data:`ui.workshop_lock.LESSON_LOCK`) and opens its page. Steps whose page this
app does not have (or a locked link hides) are marked and skipped by Back and Next. The
link ``?lesson=<id>&step=<n>`` starts a lesson at a step (with its settings); while it runs,
the address keeps ``lesson=<id>&lesson_step=<n>``, so a reload resumes it (keeping the lab's
settings as they were).

Session state: ``lesson_id``, ``lesson_step`` (index into the lesson's steps),
``lesson_since`` (the first run number of the step: only its runs count for the goal),
``lesson_visited`` (pages opened during the step), ``lesson_answers`` (step -> choice),
``lesson_done`` (steps done), ``lesson_go`` (the page to open), widgets ``lesson_*``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import streamlit as st

from lab import lessons
from lab.lessons import Lesson
from ui import navigation, state, workshop_lock
from ui.widgets import projector

logger = logging.getLogger(__name__)

LESSON, STEP, SINCE, VISITED = "lesson_id", "lesson_step", "lesson_since", "lesson_visited"
ANSWERS, DONE, GO, PICK = "lesson_answers", "lesson_done", "lesson_go", "lesson_pick"
# A link starts a lesson at a step (``?lesson=<id>&step=<n>``); while it runs the address
# says ``lesson_step=<n>`` instead, so that a reload resumes it rather than starting again.
LESSON_PARAM, STEP_PARAM, RESUME_PARAM = "lesson", "step", "lesson_step"
_KEYS = (LESSON, STEP, SINCE, VISITED, ANSWERS, DONE, GO, workshop_lock.LESSON_LOCK)


@st.cache_resource(show_spinner=False)
def _load(folder: str, stamp: tuple) -> tuple[tuple[Lesson, ...], tuple[str, ...]]:
    """The server's lessons (read-only, the same for everyone; re-read when a file changes)."""
    found, errors = lessons.load_folder(folder)
    for error in errors:
        logger.warning("lesson file %s", error)
    return found, tuple(errors)


def server_lessons() -> tuple[tuple[Lesson, ...], tuple[str, ...]]:
    """The lessons of ``$DIGIT_LAB_LESSONS`` (default ``assets/lessons``) and a message per
    file that could not be used."""
    folder = Path(lessons.lessons_folder())
    try:
        stamp = tuple((p.name, p.stat().st_mtime) for p in sorted(folder.glob("*.toml")))
    except OSError:
        return (), (f"The lesson folder {folder.name} cannot be read.",)
    return _load(str(folder), stamp)


def lesson_by_id(ident) -> Lesson | None:
    return next((lesson for lesson in server_lessons()[0] if lesson.id == ident), None)


def active_lesson() -> Lesson | None:
    return lesson_by_id(st.session_state.get(LESSON))


def reachable(lesson: Lesson) -> list[int]:
    """The steps whose page is in the navigation now."""
    return lessons.available_steps(lesson, navigation.shown_pages(workshop_lock.hidden_pages()))


# -- moving through a lesson (callbacks) -------------------------------------------------------


def _enter(lesson: Lesson, index: int, load: bool = True) -> None:
    """Make step ``index`` the current one: its settings (``load``), its lock, its page."""
    state_ = st.session_state
    step = lesson.steps[index]
    state_[STEP], state_[SINCE], state_[VISITED] = index, state_.get(state.NEXT_RUN, 1), set()
    settings = state_[state.SETTINGS]
    if load and step.loads_settings:
        settings = step.start_settings(settings)
        state.forget_train_widgets()
        state_[state.SETTINGS] = settings
    state_[workshop_lock.LESSON_LOCK] = step.lock(settings) if step.locked or step.hidden else None
    workshop_lock.enforce()
    state_[GO] = step.page


def start(ident: str | None = None, index: int | None = None, load: bool = True) -> None:
    """Start lesson ``ident`` (default: the picker's) at step ``index`` (default: its first
    reachable one)."""
    lesson = lesson_by_id(ident if ident is not None else st.session_state.get(PICK))
    if lesson is None:
        return
    steps = reachable(lesson)
    if not steps:
        return
    end()
    st.session_state[LESSON], st.session_state[ANSWERS], st.session_state[DONE] = lesson.id, {}, set()
    _enter(lesson, index if index in steps else steps[0], load)


def move(delta: int) -> None:
    """on_click of Back (-1) and Next (+1): the previous or next reachable step."""
    lesson = active_lesson()
    if lesson is None:
        return
    current = st.session_state.get(STEP, 0)
    steps = [i for i in reachable(lesson) if (i > current if delta > 0 else i < current)]
    if steps:
        _enter(lesson, steps[0] if delta > 0 else steps[-1])


def end() -> None:
    """on_click of End: leave the lesson; its locks go, the settings stay."""
    for key in _KEYS:
        st.session_state.pop(key, None)
    for name in (LESSON_PARAM, STEP_PARAM, RESUME_PARAM):
        if name in st.query_params:
            del st.query_params[name]


def check_answer(index: int) -> None:
    """on_click of Check: remember the choice made for step ``index``'s question."""
    choice = st.session_state.get(f"lesson_question_{index}")
    if choice is not None:
        st.session_state.setdefault(ANSWERS, {})[index] = choice


def open_from_link(params: dict) -> None:
    """A session's first run: ``?lesson=<id>[&step=<n>]`` starts that lesson at that step
    (a facilitator's link); ``lesson_step=<n>`` (a reload) resumes it, keeping the lab's
    settings as they were."""
    ident = params.get(LESSON_PARAM)
    if not ident or lesson_by_id(ident) is None:
        return
    resume = RESUME_PARAM in params
    try:
        number = int(str(params.get(RESUME_PARAM if resume else STEP_PARAM, "1")))
    except ValueError:
        number = 1
    start(ident, number - 1, load=not resume)
    if resume:
        st.session_state.pop(GO, None)  # a reload stays on the page it was on


# -- the panel ----------------------------------------------------------------------------------


def _record(lesson: Lesson, current_page: str) -> None:
    """The page visit, what the step has done, the address; then open the step's page."""
    index = st.session_state.get(STEP, 0)
    st.session_state.setdefault(VISITED, set()).add(current_page)
    step = lesson.steps[index]
    if lessons.step_done(step, state.runs(), st.session_state.get(SINCE, 1), st.session_state[VISITED],
                         st.session_state.get(ANSWERS, {}).get(index)):
        st.session_state.setdefault(DONE, set()).add(index)
    for name, value in ((LESSON_PARAM, lesson.id), (RESUME_PARAM, str(index + 1))):
        if st.query_params.get(name) != value:
            st.query_params[name] = value
    if STEP_PARAM in st.query_params:
        del st.query_params[STEP_PARAM]
    go = st.session_state.pop(GO, None)
    if go and go != current_page and go in navigation.shown_pages(workshop_lock.hidden_pages()):
        st.switch_page(navigation.path(go))


def render(current_page: str) -> None:
    """The panel in the sidebar, or in projector view above the page, where the room can read
    it (app.py calls it before the page runs: it may open the step's page)."""
    lesson = active_lesson()
    if lesson is None:
        with st.sidebar:
            _picker()
        return
    _record(lesson, current_page)
    with st.container() if projector() else st.sidebar:
        _step_panel(lesson, current_page)


def _picker() -> None:
    offered, errors = server_lessons()
    if not offered or not workshop_lock.shows("lessons"):
        return
    with st.expander("Lessons", icon=":material/school:"):
        for error in errors:
            st.caption(f":orange[{error}]")
        ids = [lesson.id for lesson in offered]
        if st.session_state.get(PICK) not in ids:
            st.session_state[PICK] = ids[0]
        titles = {lesson.id: lesson.title for lesson in offered}
        st.selectbox("Lesson", ids, key=PICK, format_func=titles.get)
        st.caption(lesson_by_id(st.session_state[PICK]).summary)
        st.button("Start the lesson", key="lesson_start", on_click=start, icon=":material/school:",
                  type="primary", width="stretch")


def _step_panel(lesson: Lesson, current_page: str) -> None:
    """The current step (text, page, goal, question), Back / Next, and every step's mark."""
    index = st.session_state.get(STEP, 0)
    step, steps = lesson.steps[index], reachable(lesson)
    done = st.session_state.get(DONE, set())
    with st.container(border=True, key="lesson_panel"):
        position = steps.index(index) + 1 if index in steps else "–"
        st.caption(f"Lesson: {lesson.title} · step {position} of {len(steps)}")
        st.markdown(f"**{step.title}**" + (" ✓" if index in done else ""))
        st.markdown(step.text)
        if step.page != current_page and step.page in navigation.shown_pages(workshop_lock.hidden_pages()):
            st.page_link(navigation.path(step.page), label=f"Open the {navigation.title(step.page)} page",
                         icon=":material/arrow_forward:")
        _goal(step, index in done)
        if step.question is not None:
            _question(step.question, index)
        back, forward = st.columns(2)
        back.button("Back", key="lesson_back", on_click=move, args=(-1,), width="stretch",
                    disabled=not any(i < index for i in steps), icon=":material/arrow_back:")
        forward.button("Next", key="lesson_next", on_click=move, args=(1,), width="stretch", type="primary",
                       disabled=not any(i > index for i in steps), icon=":material/arrow_forward:")
        with st.expander("All steps"):
            st.markdown("\n".join(_step_line(lesson, i, index, done, steps) for i in range(len(lesson.steps))))
        st.button("End the lesson", key="lesson_end", on_click=end, icon=":material/close:", type="tertiary")


def _step_line(lesson: Lesson, i: int, current: int, done: set, reachable_steps: list[int]) -> str:
    step = lesson.steps[i]
    if i not in reachable_steps:
        return (f"- ~~{i + 1}. {step.title}~~ *(the {navigation.title(step.page)} page is not in this app "
                "yet: skipped)*" if step.page not in navigation.PAGES else
                f"- ~~{i + 1}. {step.title}~~ *(its page is hidden in this exercise: skipped)*")
    mark = "✓" if i in done else ("→" if i == current else "○")
    return f"- {mark} {i + 1}. " + (f"**{step.title}**" if i == current else step.title)


def _goal(step, done: bool) -> None:
    if step.goal is None:
        return
    met, detail = lessons.goal_met(step.goal, state.runs(), st.session_state.get(SINCE, 1),
                                   st.session_state.get(VISITED, set()))
    if met:
        st.success(f"Goal reached: {step.goal.text()}." + (f" ({detail})" if detail else ""),
                   icon=":material/check_circle:")
    else:
        st.info(f"Goal: {step.goal.text()}." + (f" So far: {detail}." if detail else ""), icon=":material/flag:")


def _question(question, index: int) -> None:
    answered = st.session_state.get(ANSWERS, {}).get(index)
    key = f"lesson_question_{index}"
    st.radio(question.text, range(len(question.choices)), key=key, index=None,
             format_func=lambda c: question.choices[c])
    st.button("Check the answer", key=f"lesson_check_{index}", on_click=check_answer, args=(index,),
              disabled=st.session_state.get(key) is None)
    if answered is None:
        return
    if answered == question.answer:
        st.success("Right. " + question.explain, icon=":material/check_circle:")
    else:
        st.warning("Not quite: look again, and try another answer.", icon=":material/replay:")
