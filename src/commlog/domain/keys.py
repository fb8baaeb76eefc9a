"""Encoded keys: 32 lowercase hex characters, as Mambu's encodedKey."""

from __future__ import annotations

import re
import uuid

_KEY = re.compile(r"^[0-9a-f]{32}$")


def new_key() -> str:
    return uuid.uuid4().hex


def is_key(value: str) -> bool:
    return bool(_KEY.match(value))
