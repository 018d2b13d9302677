"""The facilitator's token: what only the person running the workshop may do (no Streamlit).

One secret, ``$DIGIT_LAB_LEADERBOARD_TOKEN``, set on the server and known to the
facilitator, guards every action that changes or reveals what the room shares: clearing the
leaderboard, clearing and downloading the room's handwriting, and signing locked exercise
links. Unset, those actions are off. :func:`check_token` compares in constant time;
:func:`sign` / :func:`verify` make and check an HMAC-SHA256 signature keyed with the token,
so a link the facilitator made can be told from one a participant edited.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

from . import config

TOKEN_ENV = config.LEADERBOARD_TOKEN
SIGNATURE_HEX = 32  # 128 bits of HMAC-SHA256: far beyond guessing through a web form
_DOMAIN = b"digit-lab signed link v1\n"  # a signature made for a link is good for nothing else


class TokenError(ValueError):
    """A facilitator action refused: no token on the server, or the wrong one."""


def server_token(environ: Mapping[str, str] | None = None) -> str:
    """The server's facilitator token ("" when unset: facilitator actions are off)."""
    return str(config.get(TOKEN_ENV, environ) or "")


def check_token(token, expected_token: str | None = None) -> None:
    """Nothing when ``token`` is the facilitator's (``expected_token``, default the
    server's); TokenError with a message otherwise."""
    expected = server_token() if expected_token is None else expected_token
    if not expected:
        raise TokenError("facilitator actions are disabled: the server has no facilitator token set "
                         f"(environment variable {TOKEN_ENV})")
    if not hmac.compare_digest(str(token).encode(), expected.encode()):
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
