"""SMS through an HTTP provider: Twilio's Messages API, or any gateway described by a URL and a template.

Numbers are E.164, checked when a message is submitted and again here, so a bad number stored
before the check existed fails as INVALID_RECIPIENT instead of reaching the provider.
"""

from __future__ import annotations

from typing import Any

import aiohttp

from commlog.channels.base import OutboundMessage
from commlog.channels.http import HttpReply, HttpTransport, accepted, provider_failure
from commlog.channels.provider_settings import GatewayFormat, GatewaySettings, TwilioSettings, stored_settings
from commlog.domain.clock import Clock, utc_now
from commlog.domain.destinations import is_phone_number
from commlog.domain.outcome import DeliveryOutcome
from commlog.domain.provider_replies import sms_gateway_status_reason, twilio_error_reason
from commlog.domain.states import MessageType

USER_AGENT = "commlog-sms/0.1"
_CONTENT_TYPES = {GatewayFormat.JSON: "application/json", GatewayFormat.FORM: "application/x-www-form-urlencoded"}


def twilio_messages_url(config: TwilioSettings) -> str:
    return f"{config.base_url}/2010-04-01/Accounts/{config.account_sid}/Messages.json"


def _field(document: Any, name: str) -> Any:
    return document.get(name) if isinstance(document, dict) else None


class SmsChannel:
    def __init__(self, timeout: float = 10.0, concurrency: int = 200, clock: Clock = utc_now) -> None:
        self._http = HttpTransport(timeout, concurrency, USER_AGENT)
        self._clock = clock

    async def deliver(self, message: OutboundMessage) -> DeliveryOutcome:
        config = stored_settings(MessageType.SMS, message.settings)
        if config is None:
            return DeliveryOutcome.failure("SMS_SERVICE_NOT_ENABLED", "no SMS provider is configured")
        if not is_phone_number(message.destination):
            return DeliveryOutcome.failure("INVALID_RECIPIENT", f"{message.destination!r} is not an E.164 number")
        if isinstance(config, TwilioSettings):
            return await self._twilio(message, config)
        assert isinstance(config, GatewaySettings)
        return await self._gateway(message, config)

    async def _twilio(self, message: OutboundMessage, config: TwilioSettings) -> DeliveryOutcome:
        form = {"To": message.destination, "Body": message.body}
        if config.messaging_service_sid:
            form["MessagingServiceSid"] = config.messaging_service_sid
        else:
            form["From"] = config.from_number or ""
        reply = await self._http.post(
            twilio_messages_url(config),
            data=form,
            headers={
                "Authorization": aiohttp.encode_basic_auth(config.account_sid, config.auth_token.get_secret_value())
            },
        )
        if isinstance(reply, DeliveryOutcome):
            return reply
        document = reply.json()
        if 200 <= reply.status < 300:
            return accepted(reply, _field(document, "sid"), _field(document, "status"))
        code = _field(document, "code")
        code = code if isinstance(code, int) else None
        words = _field(document, "message")
        provider_reply = f"{code}: {words}" if code is not None else (str(words) if words else None)
        return provider_failure(twilio_error_reason(reply.status, code), reply, provider_reply, self._clock)

    async def _gateway(self, message: OutboundMessage, config: GatewaySettings) -> DeliveryOutcome:
        body = config.render(to=message.destination, body=message.body, key=message.key)
        headers = {name: value.get_secret_value() for name, value in config.headers.items()}
        headers["Content-Type"] = _CONTENT_TYPES[config.format]
        reply = await self._http.post(config.url, data=body.encode(), headers=headers)
        if isinstance(reply, DeliveryOutcome):
            return reply
        if 200 <= reply.status < 300:
            return accepted(reply, _gateway_message_id(reply, config))
        return provider_failure(sms_gateway_status_reason(reply.status), reply, None, self._clock)

    async def close(self) -> None:
        await self._http.close()


def _gateway_message_id(reply: HttpReply, config: GatewaySettings) -> Any:
    return _field(reply.json(), config.message_id_field) if config.message_id_field else None
