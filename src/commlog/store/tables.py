"""The schema: workspaces, messages (the log and the queue), attempts (the retry history), and
who may use them: users, API keys, sign-in sessions and the audit trail; the dashboard's saved views."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)

from commlog.store.types import UTCDateTime

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

KEY = String(32)


def _present(name: str, column: str, *columns: str | Column[Any], unique: bool = False) -> Index:
    """An index over `columns` (default: `column` alone) of only the rows where `column` is not NULL."""
    present = text(f"{column} IS NOT NULL")
    return Index(name, *(columns or (column,)), unique=unique, postgresql_where=present, sqlite_where=present)


workspaces = Table(
    "workspaces",
    metadata,
    Column("id", KEY, primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("time_zone", String(64), nullable=False, server_default="UTC"),
    Column("signing_secret", String(200), nullable=False),
    #: The retry policy as the API shows it (camelCase keys); absent keys take the defaults.
    Column("retry_policy", JSON, nullable=False),
    #: Per-channel provider settings (SMTP host, SMS and push credentials, limits), by message type.
    Column("channel_settings", JSON, nullable=False, server_default="{}"),
    Column("last_sweep_at", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
)

messages = Table(
    "messages",
    metadata,
    Column("encoded_key", KEY, primary_key=True),
    Column("workspace_id", KEY, ForeignKey("workspaces.id"), nullable=False),
    Column("type", String(16), nullable=False),
    Column("state", String(16), nullable=False),
    Column("waiting_reason", String(32)),
    Column("destination", Text, nullable=False),
    Column("subject", Text),
    Column("body", Text, nullable=False),
    Column("headers", JSON),
    Column("event", String(100)),
    Column("client_key", String(64)),
    Column("group_key", String(64)),
    Column("user_key", String(64)),
    Column("sender_key", String(64), nullable=False),
    Column("template_key", String(64)),
    Column("reference_id", String(200)),
    Column("failure_reason", String(64)),
    Column("failure_cause", Text),
    Column("failure_category", String(16)),
    Column("num_retries", Integer, nullable=False, server_default="0"),
    Column("num_sweeps", Integer, nullable=False, server_default="0"),
    Column("attempt_count", Integer, nullable=False, server_default="0"),
    Column("creation_date", UTCDateTime, nullable=False),
    Column("send_date", UTCDateTime),
    Column("updated_at", UTCDateTime, nullable=False),
    #: When a worker should next try; for SENDING_ASYNC it is the end of the worker's lease.
    #: NULL once the message is final, so the due-index holds only live work.
    Column("next_attempt_at", UTCDateTime),
    Column("retry_not_before", UTCDateTime),
    Column("lease_token", String(32)),
    Column("trigger", String(24), nullable=False, server_default="FIRST_SEND"),
    Column("product_tag", String(200)),
    Column("product_id", String(200)),
    Column("env", String(64)),
    Column("notification_tag", String(200)),
    Column("process_id", String(200)),
    Column("input", JSON),
    #: A resend or reprocess points at the message it was made from, and at the first message of
    #: its chain (NULL on an original), so a whole chain is one indexed lookup.
    Column("parent_key", KEY),
    Column("root_key", KEY),
    #: How the message came to be: FIRST_SEND, MANUAL_RESEND or REPROCESS. Unlike `trigger`, which
    #: names what caused the next attempt, it never changes.
    Column("origin", String(24), nullable=False, server_default="FIRST_SEND"),
    #: Set on an original when someone resends it; the resend is a new message (seed 000).
    Column("resent_at", UTCDateTime),
    Column("resent_by", String(64)),
    Column("idempotency_key", String(255)),
    # Indexes on columns most messages leave empty hold only the rows that have a value (migration
    # 0010_partial_indexes): every insert, claim and recording writes a new row version into each
    # index it belongs to, and a lookup `column = value` or `column IN (...)` implies the value is
    # there, so both databases still use them.
    _present(
        "uq_messages_workspace_id_idempotency_key", "idempotency_key", "workspace_id", "idempotency_key", unique=True
    ),
    _present("ix_messages_due", "next_attempt_at"),
    Index("ix_messages_ws_created", "workspace_id", "creation_date"),
    Index("ix_messages_ws_state_created", "workspace_id", "state", "creation_date"),
    _present("ix_messages_parent", "parent_key"),
    _present("ix_messages_root", "root_key"),
    # Search (issue 3): the seed's filters, each newest first within a workspace.
    Index("ix_messages_ws_event_created", "workspace_id", "event", "creation_date"),
    Index("ix_messages_ws_type_created", "workspace_id", "type", "creation_date"),
    Index("ix_messages_ws_client_key_created", "workspace_id", "client_key", "creation_date"),
    _present("ix_messages_ws_group_key_created", "group_key", "workspace_id", "group_key", "creation_date"),
    _present("ix_messages_ws_user_key_created", "user_key", "workspace_id", "user_key", "creation_date"),
)

#: How many messages each workspace has of each type in each state, kept by PostgreSQL's triggers on
#: `messages` (migration 0011_message_counts), so that the total of a search on type and state alone
#: is a sum of a few rows, not a COUNT over millions. They append one row per group and statement and
#: never update one, so concurrent writers never wait for each other; `store.counts.fold` folds them.
#: SQLite keeps no counts (a row-level trigger would double the cost of an insert): empty there.
message_counts = Table(
    "message_counts",
    metadata,
    Column("workspace_id", KEY, nullable=False),
    Column("type", String(16), nullable=False),
    Column("state", String(16), nullable=False),
    Column("n", BigInteger, nullable=False),
    Index("ix_message_counts_group", "workspace_id", "type", "state"),
)

attempts = Table(
    "attempts",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("message_key", KEY, ForeignKey("messages.encoded_key", ondelete="CASCADE"), nullable=False),
    Column("number", Integer, nullable=False),
    Column("trigger", String(24), nullable=False),
    Column("triggered_by", String(64), nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("duration_ms", Float, nullable=False),
    Column("sent", Boolean, nullable=False),
    Column("status_code", Integer),
    Column("provider_reply", Text),
    Column("response_excerpt", Text),
    #: The provider's id for what it accepted (an email's Message-ID, an SMS sid, a push message name).
    Column("provider_message_id", String(255)),
    Column("failure_reason", String(64)),
    Column("failure_category", String(16)),
    Column("failure_cause", Text),
    Index("ix_attempts_message", "message_key", "number"),
    Index("ix_attempts_started", "started_at"),
)

#: Resend requests made with an `Idempotency-Key`: a repeat answers the stored response and
#: resends nothing, whatever has failed since.
resend_requests = Table(
    "resend_requests",
    metadata,
    Column("workspace_id", KEY, ForeignKey("workspaces.id"), primary_key=True),
    Column("idempotency_key", String(255), primary_key=True),
    #: A digest of the route and body, so a key reused for another request is refused.
    Column("fingerprint", String(64), nullable=False),
    Column("status_code", Integer, nullable=False),
    Column("response", JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

users = Table(
    "users",
    metadata,
    Column("id", KEY, primary_key=True),
    Column("workspace_id", KEY, ForeignKey("workspaces.id"), nullable=False),
    #: Unique across workspaces: HTTP Basic and the sign-in form name no workspace.
    Column("username", String(64), nullable=False, unique=True),
    Column("password_hash", String(255), nullable=False),
    Column("role", String(16), nullable=False),
    Column("failed_sign_ins", Integer, nullable=False, server_default="0"),
    Column("locked_until", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
    Column("created_by", String(64), nullable=False),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", KEY, primary_key=True),
    Column("workspace_id", KEY, ForeignKey("workspaces.id"), nullable=False),
    Column("name", String(60), nullable=False),
    Column("role", String(16), nullable=False),
    #: SHA-256 of the key, hex; the key itself is shown once and never stored.
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("prefix", String(16), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("created_by", String(64), nullable=False),
    Column("revoked_at", UTCDateTime),
    Index("ix_api_keys_workspace", "workspace_id"),
)

sessions = Table(
    "sessions",
    metadata,
    #: SHA-256 of the cookie's token, hex.
    Column("token_hash", String(64), primary_key=True),
    Column("user_id", KEY, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Index("ix_sessions_user", "user_id"),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("workspace_id", KEY, ForeignKey("workspaces.id"), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("actor", String(64), nullable=False),
    Column("action", String(64), nullable=False),
    Column("details", JSON, nullable=False),
    Column("source_ip", String(64)),
    Index("ix_audit_log_ws_at", "workspace_id", "at"),
)

#: The dashboard's custom views (seed 000): a named filter, columns and sort, kept for their owner
#: or shared with the whole workspace.
saved_views = Table(
    "saved_views",
    metadata,
    Column("id", KEY, primary_key=True),
    Column("workspace_id", KEY, ForeignKey("workspaces.id"), nullable=False),
    Column("owner", String(64), nullable=False),
    Column("name", String(80), nullable=False),
    Column("shared", Boolean, nullable=False),
    #: The view as the communication log's query string carries it: conditions, columns, sort.
    Column("definition", JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    #: When the view was last saved again under its name (migration 0006_views); None if never.
    Column("updated_at", UTCDateTime),
    UniqueConstraint("workspace_id", "owner", "name"),
)

# -- Event stream (issue 5, migration 0003_events) ------------------------------------------------

#: The log's events in the order subscribers read them. `id` is taken at insert; `seq`, the cursor
#: a subscriber sees, is handed out later in commit order (store/events.py), so a transaction that
#: commits late can never slip in below a cursor a reader has already passed.
events = Table(
    "events",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("seq", BigInteger),
    Column("workspace_id", KEY, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("message_key", KEY, nullable=False),
    Column("message_type", String(16), nullable=False),
    #: Set on `notification` events only: the stream subscriber the message is for.
    Column("subscriber", String(200)),
    Column("payload", JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    # Numbered events only (migration 0010_partial_indexes): an event is written unnumbered, and
    # every reading compares `seq`, so the unnumbered ones would be dead weight in these two.
    _present("ix_events_ws_seq", "seq", "workspace_id", "seq"),
    _present("ix_events_seq", "seq", unique=True),
    Index("ix_events_unsequenced", "id", postgresql_where=text("seq IS NULL"), sqlite_where=text("seq IS NULL")),
)

#: A subscriber's acknowledgement of a stream notification; the stream channel waits for it.
stream_acks = Table(
    "stream_acks",
    metadata,
    Column("message_key", KEY, primary_key=True),
    Column("workspace_id", KEY, nullable=False),
    Column("acked_at", UTCDateTime, nullable=False),
    Column("acked_by", String(64), nullable=False),
)

# Business-logic limits (seed 003, issue 5): daily sending limits per channel, the day's counts,
# and the suppression list (opt-outs).

#: A workspace's daily sending limit on one channel; a channel without a row is unlimited.
send_limits = Table(
    "send_limits",
    metadata,
    Column("workspace_id", KEY, ForeignKey("workspaces.id"), primary_key=True),
    Column("channel", String(16), primary_key=True),
    Column("daily_limit", Integer, nullable=False),
)

#: How many messages a workspace sent (or is sending) on a channel on one day of its time zone.
daily_sends = Table(
    "daily_sends",
    metadata,
    Column("workspace_id", KEY, ForeignKey("workspaces.id"), primary_key=True),
    Column("channel", String(16), primary_key=True),
    #: The workspace's calendar day, ISO (2026-03-02).
    Column("day", String(10), primary_key=True),
    Column("used", Integer, nullable=False),
)

#: Recipients who opted out: never sent to, on one channel or on all ("ALL").
suppressions = Table(
    "suppressions",
    metadata,
    Column("id", KEY, primary_key=True),
    Column("workspace_id", KEY, ForeignKey("workspaces.id"), nullable=False),
    Column("destination", Text, nullable=False),
    #: What messages are matched by: an email address lowercased, anything else as given.
    Column("destination_key", String(2048), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("reason", String(500)),
    Column("created_at", UTCDateTime, nullable=False),
    Column("created_by", String(64), nullable=False),
    UniqueConstraint("workspace_id", "destination_key", "channel"),
)

# -- Multi-channel notifications (issue 5, migration 0002_fanout) -------------------------------------

#: A message fanned out from a multi-channel notification names it; every sibling shares the key.
messages.append_column(Column("notification_key", KEY))
_present("ix_messages_ws_notification", "notification_key", messages.c.workspace_id, messages.c.notification_key)

# -- Search indexes (issue 3, migration 0005_search_indexes) -------------------------------------------

#: Seed 002's log: product and environment within a time range, newest first.
#: (The index has only messages with a product tag: a filter on env alone cannot use it anyway.)
_present(
    "ix_messages_ws_product_tag_env_created",
    "product_tag",
    messages.c.workspace_id,
    messages.c.product_tag,
    messages.c.env,
    messages.c.creation_date,
)
#: Mambu's destination STARTS_WITH, which compares lower(destination): PostgreSQL's serves the LIKE
#: (migration 0005), SQLite's the range the search adds there (migration 0012).
Index(
    "ix_messages_ws_lower_destination",
    messages.c.workspace_id,
    func.lower(messages.c.destination).label("lower_destination"),
    postgresql_ops={"lower_destination": "text_pattern_ops"},
)

# -- Retention (issue 9, migration 0007_retention) ------------------------------------------------

#: Days a workspace keeps its final messages before `commlog purge` removes them; NULL keeps them.
workspaces.append_column(Column("retention_days", Integer))
#: When a worker last took the workspace's daily purge turn (migration 0009_purge_turn); one of many wins it.
workspaces.append_column(Column("last_purge_at", UTCDateTime))
