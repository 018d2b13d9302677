"""The facilitator's token: what only the person running the workshop may do (no Streamlit).

One secret, ``$DIGIT_LAB_LEADERBOARD_TOKEN``, set on the server and known to the
facilitator, guards every action that changes or reveals what the room shares: clearing the
leaderboard, clearing and downloading the room's handwriting, and signing locked exercise
links, seeing and stopping any run of the server process. Unset, those actions are off.
:func:`check_token` compares in constant time; :func:`sign` / :func:`verify` make and check
an HMAC-SHA256 signature keyed with the token, so a link the facilitator made can be told
from one a participant edited.

Guessing is rate-limited: each server process counts the wrong tokens it was given
(:class:`TokenAttempts`), and after :data:`MAX_WRONG_TOKENS` of them within
:data:`WRONG_TOKEN_WINDOW_SECONDS` it refuses every token, the right one too (else a refusal
would tell a guesser when a guess was right), until the oldest of them is a window old. A
participant can therefore make the facilitator wait a minute, never guess faster than 10
tokens a minute per process (a form submits about 20 a second). The count is per process:
behind nginx with N processes a guesser gets N times as many tries, so the token should be
long and random (``python -c "import secrets; print(secrets.token_urlsafe(16))"``).
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping

from . import config

TOKEN_ENV = config.LEADERBOARD_TOKEN
SIGNATURE_HEX = 32  # 128 bits of HMAC-SHA256: far beyond guessing through a web form
_DOMAIN = b"digit-lab signed link v1\n"  # a signature made for a link is good for nothing else


MAX_WRONG_TOKENS = 10
WRONG_TOKEN_WINDOW_SECONDS = 60.0


class TokenError(ValueError):
    """A facilitator action refused: no token on the server, the wrong one, or too many
    wrong ones lately."""


class TokenAttempts:
    """The wrong tokens a server process was given in the last ``window`` seconds
    (thread-safe); over ``limit`` of them, :meth:`check` refuses every attempt."""

    def __init__(self, limit: int = MAX_WRONG_TOKENS, window: float = WRONG_TOKEN_WINDOW_SECONDS,
                 clock: Callable[[], float] = time.monotonic):
        self.limit, self.window, self._clock = limit, window, clock
        self._wrong: deque[float] = deque()
        self._lock = threading.Lock()

    def _forget_old(self, now: float) -> None:
        while self._wrong and now - self._wrong[0] >= self.window:
            self._wrong.popleft()

    def check(self) -> None:
        """TokenError when ``limit`` wrong tokens came within the window, else nothing."""
        with self._lock:
            now = self._clock()
            self._forget_old(now)
            if len(self._wrong) >= self.limit:
                wait = max(1, round(self.window - (now - self._wrong[0])))
                raise TokenError(f"too many wrong facilitator tokens on this server in the last "
                                 f"{self.window:g} s; try again in {wait} s")

    def wrong(self) -> None:
        """Count one wrong token."""
        with self._lock:
            now = self._clock()
            self._forget_old(now)
            self._wrong.append(now)

    def reset(self) -> None:
        with self._lock:
            self._wrong.clear()


_attempts = TokenAttempts()


def default_attempts() -> TokenAttempts:
    """The process's one :class:`TokenAttempts`, which :func:`check_token` counts in."""
    return _attempts


def server_token(environ: Mapping[str, str] | None = None) -> str:
    """The server's facilitator token ("" when unset: facilitator actions are off)."""
    return str(config.get(TOKEN_ENV, environ) or "")


def check_token(token, expected_token: str | None = None, attempts: TokenAttempts | None = None) -> None:
    """Nothing when ``token`` is the facilitator's (``expected_token``, default the
    server's); TokenError with a message otherwise, also while ``attempts`` (default the
    process's) has seen too many wrong tokens lately."""
    expected = server_token() if expected_token is None else expected_token
    if not expected:
        raise TokenError("facilitator actions are disabled: the server has no facilitator token set "
                         f"(environment variable {TOKEN_ENV})")
    attempts = _attempts if attempts is None else attempts
    attempts.check()
    if not hmac.compare_digest(str(token).encode(), expected.encode()):
        attempts.wrong()
        raise TokenError("wrong facilitator token")


def sign(message: str, token: str) -> str:
    """The signature of ``message`` under ``token`` (hex, :data:`SIGNATURE_HEX` digits)."""
    if not token:
        raise TokenError("cannot sign without a facilitator token")
    digest = hmac.new(token.encode(), _DOMAIN + message.encode(), hashlib.sha256).hexdigest()
    return digest[:SIGNATURE_HEX]


def verify(message: str, signature, token: str) -> bool:
    """True when ``signature`` is :func:`sign`'s for ``message`` under ``token`` (False
    without a token)."""
    if not token or not isinstance(signature, str) or len(signature) != SIGNATURE_HEX:
        return False
    return hmac.compare_digest(sign(message, token), signature.lower())
