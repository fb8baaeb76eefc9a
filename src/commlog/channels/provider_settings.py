"""Provider settings per workspace and channel, as the API takes them and the channels read them.

One pydantic model per channel is the single definition: the API validates a PUT with it and the
channel parses the stored JSON with it. Secrets are `SecretStr`, so a repr or a log line never shows
them; they serialise as a mask unless the store asks for them (`reveal_secrets`).
"""

from __future__ import annotations

import json
import ssl
from enum import StrEnum
from string import Template
from typing import Annotated, Any, Literal
from urllib.parse import quote_plus, urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    SecretStr,
    SerializationInfo,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    model_validator,
)
from pydantic.alias_generators import to_camel

from commlog.domain.destinations import is_email_address, is_phone_number
from commlog.domain.states import MessageType

#: What the API shows in place of a secret; sending it back in a PUT keeps the stored secret.
MASK = "********"


def _serialise_secret(value: SecretStr, info: SerializationInfo) -> str:
    return value.get_secret_value() if (info.context or {}).get("reveal_secrets") else MASK


Secret = Annotated[SecretStr, StringConstraints(min_length=1, max_length=4096), PlainSerializer(_serialise_secret)]


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http or https URL with a host")
    return value.rstrip("/")


def _email(value: str) -> str:
    if not is_email_address(value):
        raise ValueError("must be an email address")
    return value


def _phone(value: str) -> str:
    if not is_phone_number(value):
        raise ValueError("must be an E.164 phone number such as +14155550100")
    return value


HttpUrl = Annotated[str, StringConstraints(min_length=1, max_length=2048), AfterValidator(_http_url)]
EmailAddress = Annotated[str, StringConstraints(max_length=320), AfterValidator(_email)]
PhoneNumber = Annotated[str, AfterValidator(_phone)]
HostName = Annotated[str, StringConstraints(min_length=1, max_length=255, pattern=r"^[A-Za-z0-9.\-:\[\]]+$")]
Timeout = Annotated[float, Field(gt=0, le=120)]


class ProviderSettings(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True)


class SmtpSecurity(StrEnum):
    STARTTLS = "STARTTLS"  # plain connection upgraded with STARTTLS (usually port 587); required, not optional
    TLS = "TLS"  # TLS from the first byte (usually port 465)
    NONE = "NONE"  # no encryption: only for a relay on a trusted network


class EmailSettings(ProviderSettings):
    host: HostName
    port: int = Field(587, ge=1, le=65535)
    security: SmtpSecurity = SmtpSecurity.STARTTLS
    username: Annotated[str, StringConstraints(min_length=1, max_length=320)] | None = None
    password: Secret | None = None
    sender: EmailAddress
    sender_name: Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\r\n]*$")] | None = None
    #: PEM of a private certificate authority to trust, for a relay with an internal certificate.
    ca_certificate: Annotated[str, StringConstraints(max_length=65536)] | None = None
    timeout_seconds: Timeout = 10.0

    @model_validator(mode="after")
    def _consistent(self) -> EmailSettings:
        if (self.username is None) != (self.password is None):
            raise ValueError("username and password go together: give both or neither")
        if self.ca_certificate is not None:
            try:
                ssl.create_default_context(cadata=self.ca_certificate)
            except (ssl.SSLError, ValueError) as exc:
                raise ValueError(f"caCertificate is not a PEM certificate ({exc})") from None
        return self


class TwilioSettings(ProviderSettings):
    """Twilio's Messages API: POST /2010-04-01/Accounts/{accountSid}/Messages.json with basic auth."""

    provider: Literal["TWILIO"]
    account_sid: Annotated[str, StringConstraints(pattern=r"^AC[0-9a-fA-F]{32}$")]
    auth_token: Secret
    from_number: PhoneNumber | None = None
    messaging_service_sid: Annotated[str, StringConstraints(pattern=r"^MG[0-9a-fA-F]{32}$")] | None = None
    base_url: HttpUrl = "https://api.twilio.com"

    @model_validator(mode="after")
    def _one_sender(self) -> TwilioSettings:
        if (self.from_number is None) == (self.messaging_service_sid is None):
            raise ValueError("give exactly one of fromNumber and messagingServiceSid")
        return self


class GatewayFormat(StrEnum):
    JSON = "JSON"
    FORM = "FORM"


PLACEHOLDERS = "$to, $from, $body, $messageKey"


class GatewaySettings(ProviderSettings):
    """Any HTTP SMS gateway: POST `url` with `template` filled in ($to, $from, $body, $messageKey)."""

    provider: Literal["HTTP_GATEWAY"]
    url: HttpUrl
    format: GatewayFormat = GatewayFormat.JSON
    template: Annotated[str, StringConstraints(min_length=1, max_length=8192)]
    from_number: Annotated[str, StringConstraints(min_length=1, max_length=32)] | None = None
    #: Where a JSON reply names the gateway's id for the message, if it does.
    message_id_field: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = None
    #: Extra request headers, typically credentials: all treated as secrets.
    headers: dict[Annotated[str, StringConstraints(pattern=r"^[!#-'*+.0-9A-Z^-z|~-]{1,100}$")], Secret] = {}

    @model_validator(mode="after")
    def _template_fits(self) -> GatewaySettings:
        try:
            sample = self.render(to="+10000000000", body='a "quoted" text', key="k")
        except (KeyError, ValueError) as exc:
            raise ValueError(f"template has an unknown placeholder ({exc}); use only {PLACEHOLDERS}") from None
        if self.format is GatewayFormat.JSON:
            try:
                json.loads(sample)
            except ValueError:
                raise ValueError("template must be JSON once its placeholders are filled in") from None
        return self

    def render(self, *, to: str, body: str, key: str) -> str:
        """The request body: each value escaped for the format (JSON string content, or form-encoded)."""
        values = {"to": to, "from": self.from_number or "", "body": body, "messageKey": key}
        escape = _json_string_content if self.format is GatewayFormat.JSON else quote_plus
        return Template(self.template).substitute({name: escape(value) for name, value in values.items()})


def _json_string_content(value: str) -> str:
    return json.dumps(value)[1:-1]


SmsSettings = Annotated[TwilioSettings | GatewaySettings, Field(discriminator="provider")]


class PushSettings(ProviderSettings):
    """Firebase Cloud Messaging HTTP v1: POST /v1/projects/{projectId}/messages:send with a bearer token."""

    provider: Literal["FCM"] = "FCM"
    project_id: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9\-]{4,61}[a-z0-9]$")]
    access_token: Secret
    base_url: HttpUrl = "https://fcm.googleapis.com"


AnySettings = EmailSettings | TwilioSettings | GatewaySettings | PushSettings

_ADAPTERS: dict[MessageType, TypeAdapter[Any]] = {
    MessageType.EMAIL: TypeAdapter(EmailSettings),
    MessageType.SMS: TypeAdapter(SmsSettings),
    MessageType.PUSH: TypeAdapter(PushSettings),
}

#: The channels that take provider settings.
CONFIGURABLE: tuple[MessageType, ...] = tuple(_ADAPTERS)


def parse_settings(channel: MessageType, data: Any) -> AnySettings:
    """Validate settings for a channel; raises pydantic's ValidationError naming each bad field."""
    parsed: AnySettings = _ADAPTERS[channel].validate_python(data)
    return parsed


def stored_settings(channel: MessageType, data: Any) -> AnySettings | None:
    """What a channel reads from a workspace: None when unset or no longer valid."""
    if not data:
        return None
    try:
        return parse_settings(channel, data)
    except ValidationError:
        return None


def to_storage(settings: AnySettings) -> dict[str, Any]:
    return settings.model_dump(mode="json", by_alias=True, exclude_none=True, context={"reveal_secrets": True})


def to_api(settings: AnySettings) -> dict[str, Any]:
    """As the API shows it: every secret masked."""
    return settings.model_dump(mode="json", by_alias=True, exclude_none=True)


def keep_masked_secrets(incoming: Any, stored: Any) -> Any:
    """Put the stored secret back wherever a client sent the mask it was shown (a GET, edited, PUT back)."""
    if isinstance(incoming, dict) and isinstance(stored, dict):
        return {
            key: stored[key] if value == MASK and key in stored else keep_masked_secrets(value, stored.get(key))
            for key, value in incoming.items()
        }
    return incoming


def masks_left(data: Any, path: str = "") -> list[str]:
    """Fields still holding the mask after `keep_masked_secrets`: secrets that were never set."""
    if isinstance(data, dict):
        prefix = f"{path}." if path else ""
        return [found for key, value in data.items() for found in masks_left(value, f"{prefix}{key}")]
    return [path] if data == MASK else []
