"""Tokens: HS256 JWTs signed with a per-run secret, with a role claim.

The algorithm is pinned (never read from the token), and ``exp``, ``iat`` and
``aud`` are required, so ``alg: none``, a token without expiry or one minted for
another service are all refused the same way.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

import jwt

AUDIENCE = "pytest-jbrealtime"
ALGORITHM = "HS256"
ROLES = ("viewer", "producer")
MIN_SECRET_BYTES = 32
COOKIE_NAME = "jb_live_token"


class InvalidToken(Exception):
    """The token is missing, malformed, expired, or not for this run or role."""


def new_secret() -> str:
    return secrets.token_urlsafe(MIN_SECRET_BYTES)


class TokenAuthority:
    """Mints and checks the tokens of one run (or one hub)."""

    def __init__(self, secret: str, run_id: str | None = None) -> None:
        if len(secret.encode()) < MIN_SECRET_BYTES:
            raise ValueError(f"the token secret must be at least {MIN_SECRET_BYTES} bytes")
        self._secret = secret
        self.run_id = run_id

    def mint(self, role: str, ttl_seconds: float, subject: str = "user") -> str:
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}")
        now = int(time.time())
        claims: dict[str, Any] = {
            "aud": AUDIENCE,
            "iat": now,
            "exp": now + int(ttl_seconds),
            "role": role,
            "sub": subject,
        }
        if self.run_id is not None:
            claims["run"] = self.run_id
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)

    def verify(self, token: str | None, role: str) -> dict[str, Any]:
        """The token's claims, if it grants ``role``; InvalidToken otherwise."""
        if not token:
            raise InvalidToken("no token")
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
