"""commlog's Python SDK: a sync `Client` and an `AsyncClient` for the log, its search and resends.

    from commlog.sdk import Client, FilterConstraint

    with Client("http://127.0.0.1:8000", api_key) as commlog:
        page = commlog.get_messages(product_tag="my-app", env="prd", status="failed", limit=50)
        failed_hooks = commlog.search([FilterConstraint("TYPE", "EQUALS", "WEB_HOOK"),
                                       FilterConstraint("STATE", "EQUALS", "FAILED")])

Every refusal raises `CommlogError` with the HTTP status and the server's message.
"""

from commlog.sdk.client import AsyncClient, Client
from commlog.sdk.errors import CommlogError, ErrorDetail
from commlog.sdk.models import (
    Attempt,
    FilterConstraint,
    History,
    LogEntry,
    Message,
    MessageOptions,
    MessagePage,
    Notification,
    ResendResult,
    SearchMessage,
)

__all__ = [
    "AsyncClient",
    "Attempt",
    "Client",
    "CommlogError",
    "ErrorDetail",
    "FilterConstraint",
    "History",
    "LogEntry",
    "Message",
    "MessageOptions",
    "MessagePage",
    "Notification",
    "ResendResult",
    "SearchMessage",
]
