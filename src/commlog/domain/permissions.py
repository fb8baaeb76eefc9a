"""Roles and permissions (seeds 001 and 003): a fixed set, checked in one place by the API.

Resending one message and resending many at once are separate permissions because seed 003 lets
agents retry individual messages while bulk retry belongs to managers and admins.
"""

from __future__ import annotations

from enum import StrEnum


class Permission(StrEnum):
    VIEW_COMMUNICATIONS = "view_communications"
    VIEW_CONTENTS = "view_message_contents"
    RESEND = "resend_failed_messages"
    RESEND_BULK = "resend_failed_messages_in_bulk"
    EXPORT = "export"
    SEND = "send"
    MANAGE_SETTINGS = "manage_settings"
    MANAGE_USERS = "manage_users_and_keys"


class Role(StrEnum):
    ADMIN = "admin"
    MANAGER = "manager"
    AGENT = "agent"


ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission),
    Role.MANAGER: frozenset(
        {
            Permission.VIEW_COMMUNICATIONS,
            Permission.VIEW_CONTENTS,
            Permission.EXPORT,
            Permission.RESEND,
            Permission.RESEND_BULK,
        }
    ),
    Role.AGENT: frozenset({Permission.VIEW_COMMUNICATIONS, Permission.VIEW_CONTENTS, Permission.RESEND}),
}
