"""The server's token check, the browser's sign-in cookie and the CSRF token of its forms.

With a token (``RUVON_API_TOKEN`` / ``--token``) every API call needs ``Authorization: Bearer
<token>`` and every dashboard page the sign-in cookie (set by the login form or ``?token=``).
Every comparison is constant-time. The cookie and the CSRF token are HMACs of the token, so they
stay valid across restarts with the same token and reveal nothing about it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

COOKIE = "ruvon_session"
CSRF_FIELD = "csrf"


class Auth:
    """What the server checks, given its token (``None``: open, loopback only)."""

    def __init__(self, token: str | None) -> None:
        self.token = token or None
        key = (
            secrets.token_bytes(32)
            if self.token is None
            else hashlib.sha256(b"ruvon-dashboard\0" + self.token.encode()).digest()
        )
        self._session = hmac.new(key, b"session", hashlib.sha256).hexdigest()
        self._csrf = hmac.new(key, b"csrf", hashlib.sha256).hexdigest()

    @property
    def required(self) -> bool:
        """Whether requests must prove they know the token."""
        return self.token is not None

    def token_ok(self, given: str | None) -> bool:
        """Whether ``given`` is the token (constant-time)."""
        if self.token is None:
            return True
        return given is not None and hmac.compare_digest(given.encode(), self.token.encode())

    def bearer_ok(self, header: str | None) -> bool:
        """Whether an ``Authorization`` header carries the token."""
        if self.token is None:
            return True
        if not header:
            return False
        scheme, _, value = header.partition(" ")
        return scheme.lower() == "bearer" and self.token_ok(value.strip())

    def session_value(self) -> str:
        """The value of the sign-in cookie."""
        return self._session

    def cookie_ok(self, value: str | None) -> bool:
        """Whether a request's sign-in cookie is valid."""
        if self.token is None:
            return True
        return value is not None and hmac.compare_digest(value.encode(), self._session.encode())

    def csrf_token(self) -> str:
        """The token every state-changing dashboard form carries."""
        return self._csrf

    def csrf_ok(self, given: str | None) -> bool:
        """Whether a form carried the right CSRF token (checked with or without a server token)."""
        return given is not None and hmac.compare_digest(given.encode(), self._csrf.encode())
