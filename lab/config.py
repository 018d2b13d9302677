"""Every ``DIGIT_LAB_*`` environment variable in one table, and the one parser that reads them.

The table (:data:`VARIABLES`) says each variable's name, kind, default, allowed range and
what it does; :func:`get` reads one::

    config.get(config.MAX_JOBS)                 # os.environ
    config.get(config.POLL_SECONDS, {"DIGIT_LAB_POLL_SECONDS": "1"})   # any mapping (tests)

An unset or blank variable gives the default. A value outside its kind or range is reported
in the log and the default is used instead: a typo in a limit must not stop a workshop.
The database URL is the exception: :mod:`lab.storage` refuses a URL it cannot use with a
message, since silently writing the room's leaderboard to a local file would lose it.

The README's environment table is generated from this one (``python -m lab.config``), and a
test checks that the two agree and that every ``DIGIT_LAB_*`` name in the code is listed here.
``DIGIT_LAB_CACHE`` is read by :func:`datasets.default_cache_dir` (``datasets`` sits below
``lab``), and the test-only variables by the tests; the table documents them too.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

# The names, so that a typo is an AttributeError rather than a silently unread variable.
DATABASE_URL = "DIGIT_LAB_DATABASE_URL"
DATABASE_POOL_SIZE = "DIGIT_LAB_DATABASE_POOL_SIZE"
LEADERBOARD_URL = "DIGIT_LAB_LEADERBOARD_URL"
LEADERBOARD_DB = "DIGIT_LAB_LEADERBOARD_DB"
LEADERBOARD_TOKEN = "DIGIT_LAB_LEADERBOARD_TOKEN"
CHALLENGES = "DIGIT_LAB_CHALLENGES"
LESSONS = "DIGIT_LAB_LESSONS"
ROOM_DRAWINGS_PER_PERSON = "DIGIT_LAB_ROOM_DRAWINGS_PER_PERSON"
ROOM_DRAWINGS_MAX = "DIGIT_LAB_ROOM_DRAWINGS_MAX"
ROOM_REFRESH_SECONDS = "DIGIT_LAB_ROOM_REFRESH_SECONDS"
MAX_JOBS = "DIGIT_LAB_MAX_JOBS"
MAX_SAMPLE_EPOCHS = "DIGIT_LAB_MAX_SAMPLE_EPOCHS"
MAX_RUN_COST = "DIGIT_LAB_MAX_RUN_COST"
MAX_RUN_SECONDS = "DIGIT_LAB_MAX_RUN_SECONDS"
POLL_SECONDS = "DIGIT_LAB_POLL_SECONDS"
MAX_LABS = "DIGIT_LAB_MAX_LABS"
LAB_TTL_SECONDS = "DIGIT_LAB_LAB_TTL_SECONDS"
LAB_CACHE_MB = "DIGIT_LAB_LAB_CACHE_MB"
LAB_WEIGHT_RUNS = "DIGIT_LAB_LAB_WEIGHT_RUNS"
LAB_MAX_BYTES = "DIGIT_LAB_LAB_MAX_BYTES"
CHECKPOINT_SECONDS = "DIGIT_LAB_CHECKPOINT_SECONDS"
JOB_GRACE_SECONDS = "DIGIT_LAB_JOB_GRACE_SECONDS"
CACHE = "DIGIT_LAB_CACHE"
TEST_PG_URL = "DIGIT_LAB_TEST_PG_URL"
COLD_START_LIMIT = "DIGIT_LAB_COLD_START_LIMIT"
INSIDE_PAGE_LIMIT = "DIGIT_LAB_INSIDE_PAGE_LIMIT"

WHOLE, NUMBER, TEXT, PATH, URL = "whole number", "number", "text", "path", "database URL"
_KINDS = {WHOLE: int, NUMBER: float, TEXT: str, PATH: Path, URL: str}
CHALLENGES_FILE = Path(__file__).resolve().parent.parent / "assets" / "challenges.toml"
LESSONS_FOLDER = Path(__file__).resolve().parent.parent / "assets" / "lessons"


def _cores() -> int:
    return os.cpu_count() or 1


@dataclass(frozen=True)
class Variable:
    """One environment variable: ``kind`` is WHOLE, NUMBER, TEXT, PATH or URL; ``default`` a
    value or a function computing it (None: unset means "not given"); ``low``/``high``
    bound a number (inclusive)."""

    name: str
    kind: str
    default: object
    default_text: str
    what: str
    low: float | None = None
    high: float | None = None
    for_tests: bool = False

    def default_value(self):
        return self.default() if callable(self.default) else self.default

    @property
    def range_text(self) -> str:
        if self.low is not None and self.high is not None:
            return f"{self.low:g} – {self.high:g}"
        if self.low is not None:
            return f"≥ {self.low:g}"
        return ""

    def requirement(self) -> str:
        """What a valid value is, for the log message."""
        noun = "a whole number" if self.kind == WHOLE else f"a {self.kind}"
        if self.low is not None and self.high is not None:
            return f"{noun} from {self.low:g} to {self.high:g}"
        if self.low == 1 and self.kind == WHOLE:
            return "a positive whole number"
        if self.low is not None:
            return f"{noun} of at least {self.low:g}"
        return noun

    def parse(self, text: str):
        """The value ``text`` stands for; ValueError when it is not one."""
        value = _KINDS[self.kind](text)
        if isinstance(value, float) and value != value:  # NaN
            raise ValueError(text)
        if (self.low is not None and value < self.low) or (self.high is not None and value > self.high):
            raise ValueError(text)
        return value


VARIABLES: dict[str, Variable] = {variable.name: variable for variable in (
    Variable(DATABASE_URL, URL, None, "`digit-lab.sqlite3` in the cache directory",
             "the database the server keeps the labs and the leaderboard in, shared by all its processes: "
             "`postgresql://user:pw@host/db` (PostgreSQL through psycopg 3), `sqlite:///path` or a file path"),
    Variable(DATABASE_POOL_SIZE, WHOLE, 5, "5",
             "connections each server process keeps open to the database at most", 1, 100),
    Variable(LEADERBOARD_URL, URL, None, "–", f"older name of `{DATABASE_URL}` (read when that is unset)"),
    Variable(LEADERBOARD_DB, PATH, None, "–",
             "older setting: the SQLite file (read when neither URL is set)"),
    Variable(LEADERBOARD_TOKEN, TEXT, "", "unset: facilitator actions are off",
             "the facilitator's token: clears the leaderboard and the room's handwriting, downloads "
             "the handwriting, signs locked exercise links, sees and stops any run of the server process; "
             "a wrong token counts towards a limit of 10 tries a minute per process"),
    Variable(CHALLENGES, PATH, CHALLENGES_FILE, "`assets/challenges.toml`", "the challenge file (TOML or JSON)"),
    Variable(LESSONS, PATH, LESSONS_FOLDER, "`assets/lessons`", "the folder of lesson files (`*.toml`)"),
    Variable(ROOM_DRAWINGS_PER_PERSON, WHOLE, 50, "50",
             "drawings one participant (one lab) may add to the room's handwriting", 1, 10_000),
    Variable(ROOM_DRAWINGS_MAX, WHOLE, 5000, "5,000",
             "drawings the room's handwriting holds at most; further ones are refused until the "
             "facilitator clears it", 1, 100_000),
    Variable(ROOM_REFRESH_SECONDS, NUMBER, 10.0, "10",
             "how often an open Leaderboard page redraws the room map (seconds)", 1, 3600),
    Variable(MAX_JOBS, WHOLE, _cores, "the number of cores",
             "runs training at once; the others wait and see their place in the queue", 1),
    Variable(MAX_SAMPLE_EPOCHS, WHOLE, 5_000_000, "5,000,000",
             "epochs × training images per run (a conv run's images count more, see the run size limit); "
             "larger runs are refused with a message and Start is disabled", 1),
    Variable(MAX_RUN_COST, NUMBER, 100.0, "100",
             "what one run may cost, in default runs (15 epochs of 784-128-10, Adam, batch 128, on the 4,500 "
             "bundled training images): steps × parameters priced by the run-cost model; costlier runs are "
             "refused with a message and Start is disabled", 1, 1_000_000),
    Variable(MAX_RUN_SECONDS, NUMBER, 300.0, "300 (5 min)",
             "how long one run may train (seconds; waiting in the queue does not count): the job stops "
             "itself then and keeps what it learned, and a run the cost model expects to take longer is "
             "refused before Start", 5, 86_400),
    Variable(POLL_SECONDS, NUMBER, 0.5, "0.5", "how often a page with a running job polls it (seconds)", 0.1, 10),
    Variable(MAX_LABS, WHOLE, 200, "200",
             "labs each process keeps decoded in memory, a cache in front of the database (the least "
             "recently used leaves it first; it stays in the database)", 1),
    Variable(LAB_CACHE_MB, WHOLE, 256, "256",
             "memory (MB) each process's lab cache may take (decoded runs, weight snapshots, a session's "
             "own data); beyond it the least recently used labs leave it (they stay in the database)", 1),
    Variable(LAB_TTL_SECONDS, NUMBER, 12 * 3600.0, "43,200 (12 h)",
             "a lab unused this long (seconds) expires: deleted from the database with its runs", 1),
    Variable(LAB_WEIGHT_RUNS, WHOLE, 5, "5",
             "a lab keeps the weights of its last N runs (and of its current model); older runs keep "
             "their settings and curves", 1, 1000),
    Variable(LAB_MAX_BYTES, WHOLE, 20_000_000, "20,000,000 (20 MB)",
             "weights a lab keeps at most (bytes of their model files); the oldest runs' weights go first, "
             "never the current model's", 100_000),
    Variable(CHECKPOINT_SECONDS, NUMBER, 2.0, "2",
             "a running job saves its weights and curves at the end of an epoch at most this often "
             "(seconds), and never for more than 5% of its training time", 0, 3600),
    Variable(JOB_GRACE_SECONDS, NUMBER, 120.0, "120",
             "a job whose page was closed (or lost its connection) keeps training this long (seconds) "
             "for the page to come back", 0, 86_400),
    Variable(CACHE, PATH, None, "`$XDG_CACHE_HOME/digit-lab` or `~/.cache/digit-lab`",
             "downloads (MNIST, EMNIST) and the default SQLite database; read by `datasets.default_cache_dir`"),
    Variable(TEST_PG_URL, URL, None, "a throwaway cluster (initdb)",
             "tests only: a PostgreSQL URL whose user may create databases", for_tests=True),
    Variable(COLD_START_LIMIT, NUMBER, None, "unset (the time is only printed)",
             "tests only: seconds the app's first page may take, asserted when set", 0, for_tests=True),
    Variable(INSIDE_PAGE_LIMIT, NUMBER, None, "unset (the times are only printed)",
             "tests only: seconds an inside page's charts may take, asserted when set", 0, for_tests=True),
)}


def get(name: str, environ: Mapping[str, str] | None = None):
    """The value of the variable ``name`` in ``environ`` (default ``os.environ``).

    Unset or blank: the table's default. Not a valid value: a warning in the log and the
    default. KeyError for a name the table does not have.
    """
    variable = VARIABLES[name]
    environ = os.environ if environ is None else environ
    text = (environ.get(name) or "").strip()
    if not text:
        return variable.default_value()
    try:
        return variable.parse(text)
    except ValueError:
        default = variable.default_value()
        shown = f"{default:g}" if isinstance(default, float) else str(default)
        if variable.default_text.replace(",", "") != shown:
            shown += f" ({variable.default_text})"
        logger.warning("%s must be %s, got %r; using %s", name, variable.requirement(), text, shown)
        return default


def first_set(names, environ: Mapping[str, str] | None = None) -> tuple[str, str] | None:
    """(name, value) of the first of ``names`` set to something, else None (for a setting
    with older names: the new name wins)."""
    for name in names:
        value = get(name, environ)
        if value not in (None, ""):
            return name, str(value)
    return None


def markdown_table(for_tests: bool = False) -> str:
    """The README's table of the variables (the server's, or with ``for_tests`` the tests')."""
    rows = ["| variable | kind | default | range | what it does |", "|---|---|---|---|---|"]
    for variable in VARIABLES.values():
        if variable.for_tests == for_tests:
            rows.append(f"| `{variable.name}` | {variable.kind} | {variable.default_text} | "
                        f"{variable.range_text} | {variable.what} |")
    return "\n".join(rows)


def _main(log: Callable[[str], None] = print) -> None:
    log(markdown_table())
    log("")
    log(markdown_table(for_tests=True))


if __name__ == "__main__":
    _main()
