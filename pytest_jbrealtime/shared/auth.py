"""Tokens: HS256 JWTs signed with a per-run secret, with a role claim.

The algorithm is pinned (never read from the token), and ``exp``, ``iat`` and
``aud`` are required, so ``alg: none``, a token without expiry or one minted for
another service are all refused the same way.

Minting is HS256 by hand (hmac, base64, json: what pyjwt does for it) because the
pytest process mints the link's token at start-up and importing pyjwt (with
``cryptography``, which it loads when installed) costs some 140 ms there, on every
run. Checking tokens stays with pyjwt, in the server process.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from typing import Any

from pytest_jbrealtime.shared.unpatched import clock, system

AUDIENCE = "pytest-jbrealtime"
ALGORITHM = "HS256"
ROLES = ("viewer", "producer")
MIN_SECRET_BYTES = 32
# A browser's WebSocket cannot carry headers: the page offers its token as a subprotocol
# ``jb-live-token.<token>`` beside ``jb-live``, which the server accepts (credential.js).
BROWSER_PROTOCOL = "jb-live"
TOKEN_PROTOCOL_PREFIX = "jb-live-token."


class InvalidToken(Exception):
    """The token is missing, malformed, expired, or not for this run or role."""


def new_secret() -> str:
    return secrets.token_urlsafe(MIN_SECRET_BYTES)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def encode_hs256(claims: dict[str, Any], secret: str) -> str:
    """A JWT of ``claims`` signed HS256 with ``secret`` (the same bytes pyjwt makes)."""
    header = _b64url(b'{"alg":"HS256","typ":"JWT"}')
    payload = _b64url(system.json_dumps(claims, separators=(",", ":")).encode())
    signing_input = f"{header}.{payload}".encode("ascii")
    signature = hmac.new(secret.encode(), signing_input, hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64url(signature)}"


class TokenAuthority:
    """Mints and checks the tokens of one run (or one hub)."""

    def __init__(self, secret: str, run_id: str | None = None) -> None:
        if len(secret.encode()) < MIN_SECRET_BYTES:
            raise ValueError(f"the token secret must be at least {MIN_SECRET_BYTES} bytes")
        self._secret = secret
        self.run_id = run_id

    def mint(self, role: str, ttl_seconds: float, subject: str = "user",
             run: str | None = None, project: str | None = None) -> str:
        """A token; on a hub, ``run`` or ``project`` (a run-id prefix) scopes it
        (hub/scopes.py)."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}")
        # Unpatched: pytest mints the link's token in pytest_configure, after the
        # conftests' imports, whose patches (a mock's values) may be in effect.
        now = int(clock.time())
        claims: dict[str, Any] = {
            "aud": AUDIENCE,
            "iat": now,
            "exp": now + int(ttl_seconds),
            "role": role,
            "sub": subject,
        }
        if self.run_id is not None or run is not None:
            claims["run"] = self.run_id if self.run_id is not None else run
        if project is not None:
            claims["project"] = project
        return encode_hs256(claims, self._secret)

    def verify(self, token: str | None, role: str) -> dict[str, Any]:
        """The token's claims, if it grants ``role``; InvalidToken otherwise."""
        if not token:
            raise InvalidToken("no token")
        import jwt

        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                audience=AUDIENCE,
                options={"require": ["exp", "iat", "aud", "role"]},
            )
        except jwt.PyJWTError as exc:
            raise InvalidToken(type(exc).__name__) from None
        if self.run_id is not None and claims.get("run") != self.run_id:
            raise InvalidToken("token of another run")
        if claims["role"] != role:
            raise InvalidToken("wrong role")
        return claims
