"""Roles and permissions (seed 003): a fixed set, checked in one place by the API."""

from __future__ import annotations

from enum import StrEnum


class Permission(StrEnum):
    VIEW_COMMUNICATIONS = "view_communications"
    VIEW_CONTENTS = "view_message_contents"
    RESEND = "resend_failed_messages"
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
        {Permission.VIEW_COMMUNICATIONS, Permission.VIEW_CONTENTS, Permission.EXPORT, Permission.RESEND}
    ),
    Role.AGENT: frozenset({Permission.VIEW_COMMUNICATIONS, Permission.VIEW_CONTENTS, Permission.RESEND}),
}
