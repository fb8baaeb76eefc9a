"""Secrets people and programs present: API keys, passwords, session tokens, and their rules.

API keys and session tokens are 256-bit random values, so a plain SHA-256 digest is a safe way to
store and look them up. Passwords are chosen by people and guessable, so they get argon2, which is
slow on purpose; verifying one costs tens of milliseconds and must run off the event loop.
"""

from __future__ import annotations

import functools
import hashlib
import re
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

API_KEY_PREFIX = "cl_"
#: Shortest key accepted from COMMLOG_ADMIN_API_KEY; generated keys are much longer.
MIN_API_KEY_LENGTH = 24
MAX_API_KEY_LENGTH = 200
MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1024
_USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}$")
_KEY_NAME = re.compile(r"^[\x21-\x7e][\x20-\x7e]{0,59}$")

_hasher = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """Verified against when a user name is unknown, so a wrong name costs as long as a wrong password.
    Made at the first sign-in, not at import: hashing takes a tenth of a second, which every command
    and every worker paid at start-up."""
    return _hasher.hash(secrets.token_urlsafe(16))


def new_secret_token() -> str:
    """A random token for sessions and CSRF (256 bits)."""
    return secrets.token_urlsafe(32)


def new_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    """How an API key or session token is stored and looked up: its SHA-256, in hex."""
    return hashlib.sha256(secret.encode()).hexdigest()


def display_prefix(api_key: str) -> str:
    """The first characters of a key, shown in lists so people can tell their keys apart."""
    return api_key[:7]


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when `password` matches; with no hash (unknown user) it spends the same time and says no."""
    try:
        return _hasher.verify(password_hash or _dummy_hash(), password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def username_problem(username: str) -> str | None:
    if not _USERNAME.match(username):
        return "must be 1 to 64 letters, digits or . _ @ + -, starting with a letter or digit"
    return None


def password_problem(password: str) -> str | None:
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"must be at least {MIN_PASSWORD_LENGTH} characters"
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"must be at most {MAX_PASSWORD_LENGTH} characters"
    return None


def key_name_problem(name: str) -> str | None:
    if not _KEY_NAME.match(name):
        return "must be 1 to 60 printable ASCII characters, not starting with a space"
    return None


def api_key_problem(api_key: str) -> str | None:
    """Rules for a key chosen by an operator (COMMLOG_ADMIN_API_KEY): long enough, header-safe."""
    if not MIN_API_KEY_LENGTH <= len(api_key) <= MAX_API_KEY_LENGTH:
        return f"must be {MIN_API_KEY_LENGTH} to {MAX_API_KEY_LENGTH} characters"
    if not re.fullmatch(r"[\x21-\x7e]+", api_key):
        return "must be printable ASCII without spaces"
    return None
