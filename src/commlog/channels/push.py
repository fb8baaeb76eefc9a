"""Push notifications through Firebase Cloud Messaging's HTTP v1 API.

One POST per message to `/v1/projects/{projectId}/messages:send` with a bearer token; FCM answers
the message's `name` (recorded as the provider's id, like an SMS sid) or a Google API error body
whose `FcmError.errorCode` (else its `status`) says what went wrong.
"""

from __future__ import annotations

import json
from typing import Any

from commlog.channels.base import OutboundMessage
from commlog.channels.http import HttpTransport, accepted, provider_failure
from commlog.channels.provider_settings import PushSettings, stored_settings
from commlog.domain.clock import Clock, utc_now
from commlog.domain.destinations import destination_problem
from commlog.domain.outcome import DeliveryOutcome
from commlog.domain.provider_replies import fcm_error_reason
from commlog.domain.states import MessageType

USER_AGENT = "commlog-push/0.1"
#: The `@type` of the detail in which FCM names its own error code.
FCM_ERROR_TYPE = "type.googleapis.com/google.firebase.fcm.v1.FcmError"


def fcm_send_url(config: PushSettings) -> str:
    return f"{config.base_url}/v1/projects/{config.project_id}/messages:send"


def fcm_request(message: OutboundMessage) -> dict[str, Any]:
    """The v1 `message`: the device token, the notification as shown, and the message key as data.

    FCM's `data` holds only strings; the message's headers travel there too, so an app can read
    what the sender attached without commlog inventing a payload format.
    """
    notification = {"title": message.subject, "body": message.body} if message.subject else {"body": message.body}
    data = {**(message.headers or {}), "messageKey": message.key}
    return {"message": {"token": message.destination, "notification": notification, "data": data}}


def fcm_error(document: Any) -> tuple[str | None, str | None, str | None]:
    """(FcmError.errorCode, Google API status, message) from an error body; None where absent."""
    error = document.get("error") if isinstance(document, dict) else None
    if not isinstance(error, dict):
        return None, None, None
    error_code = None
    for detail in error.get("details") or []:
        if isinstance(detail, dict) and str(detail.get("@type", "")).endswith("FcmError"):
            code = detail.get("errorCode")
            error_code = code if isinstance(code, str) else None
    api_status = error.get("status")
    words = error.get("message")
    return error_code, api_status if isinstance(api_status, str) else None, words if isinstance(words, str) else None


class PushChannel:
    def __init__(self, timeout: float = 10.0, concurrency: int = 200, clock: Clock = utc_now) -> None:
        self._http = HttpTransport(timeout, concurrency, USER_AGENT)
        self._clock = clock

    async def deliver(self, message: OutboundMessage) -> DeliveryOutcome:
        config = stored_settings(MessageType.PUSH, message.settings)
        if not isinstance(config, PushSettings):
            return DeliveryOutcome.failure("PUSH_SERVICE_NOT_ENABLED", "no push provider is configured")
        problem = destination_problem(MessageType.PUSH, message.destination)
        if problem:
            return DeliveryOutcome.failure("INVALID_RECIPIENT", f"the device token {problem}")
        reply = await self._http.post(
            fcm_send_url(config),
            data=json.dumps(fcm_request(message)).encode(),
            headers={
                "Authorization": f"Bearer {config.access_token.get_secret_value()}",
                "Content-Type": "application/json; charset=utf-8",
            },
        )
        if isinstance(reply, DeliveryOutcome):
            return reply
        document = reply.json()
        if 200 <= reply.status < 300:
            name = document.get("name") if isinstance(document, dict) else None
            return accepted(reply, name)
        error_code, api_status, words = fcm_error(document)
        code = error_code or api_status
        provider_reply = f"{code}: {words}" if code and words else (code or words)
        return provider_failure(
            fcm_error_reason(reply.status, error_code, api_status), reply, provider_reply, self._clock
        )

    async def close(self) -> None:
        await self._http.close()
