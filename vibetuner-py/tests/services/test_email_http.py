"""Resend and Mailjet providers against a real local HTTP server that records requests."""

import base64

import pytest

from tests.services.email_support import HTTPRecorder
from vibetuner.server._net import free_port
from vibetuner.services.email import (
    EmailDeliveryError,
    EmailMessage,
    MailjetProvider,
    ResendProvider,
)

pytest_plugins = ["tests.services.email_support"]


def _message(**overrides: object) -> EmailMessage:
    values: dict[str, object] = {
        "to": ["ada@example.com"],
        "subject": "Sign in",
        "html": "<p>Link</p>",
        "text": "Link",
        "from_": "Acme <no-reply@acme.test>",
    }
    values.update(overrides)
    return EmailMessage(**values)  # type: ignore[arg-type]


async def test_resend_request_shape(http_recorder: HTTPRecorder) -> None:
    provider = ResendProvider("re_test_key", http_recorder.url + "/")
    await provider.send(_message(reply_to="help@acme.test", headers={"X-Entity-Ref-ID": "42"}))
    [request] = http_recorder.requests
    assert (request.method, request.path) == ("POST", "/emails")
    assert request.headers["authorization"] == "Bearer re_test_key"
    assert request.headers["content-type"] == "application/json"
    assert request.body == {
        "from": "Acme <no-reply@acme.test>",
        "to": ["ada@example.com"],
        "subject": "Sign in",
        "html": "<p>Link</p>",
        "text": "Link",
        "reply_to": "help@acme.test",
        "headers": {"X-Entity-Ref-ID": "42"},
    }


async def test_resend_omits_empty_optional_fields(http_recorder: HTTPRecorder) -> None:
    await ResendProvider("k", http_recorder.url).send(_message())
    assert set(http_recorder.requests[0].body) == {"from", "to", "subject", "html", "text"}


@pytest.mark.parametrize("status", [401, 422, 500])
async def test_resend_error_status_is_a_delivery_error(
    http_recorder: HTTPRecorder, status: int
) -> None:
    http_recorder.status = status
    http_recorder.answer = {"name": "validation_error", "message": "domain not verified"}
    with pytest.raises(EmailDeliveryError) as caught:
        await ResendProvider("k", http_recorder.url).send(_message())
    assert caught.value.provider == "resend" and caught.value.status == status
    assert f"HTTP {status}" in str(caught.value) and "domain not verified" in str(caught.value)


async def test_mailjet_request_shape(http_recorder: HTTPRecorder) -> None:
    http_recorder.answer = {"Messages": [{"Status": "success"}]}
    provider = MailjetProvider("mj_key", "mj_secret", http_recorder.url)
    await provider.send(
        _message(
            to=["ada@example.com", "Grace Hopper <grace@example.com>"],
            reply_to="help@acme.test",
            headers={"X-Tag": "t"},
        )
    )
    [request] = http_recorder.requests
    assert (request.method, request.path) == ("POST", "/v3.1/send")
    expected = base64.b64encode(b"mj_key:mj_secret").decode()
    assert request.headers["authorization"] == f"Basic {expected}"
    assert request.body == {
        "Messages": [
            {
                "From": {"Email": "no-reply@acme.test", "Name": "Acme"},
                "To": [
                    {"Email": "ada@example.com"},
                    {"Email": "grace@example.com", "Name": "Grace Hopper"},
                ],
                "Subject": "Sign in",
                "TextPart": "Link",
                "HTMLPart": "<p>Link</p>",
                "ReplyTo": {"Email": "help@acme.test"},
                "Headers": {"X-Tag": "t"},
            }
        ]
    }


@pytest.mark.parametrize("status", [400, 401, 503])
async def test_mailjet_error_status_is_a_delivery_error(
    http_recorder: HTTPRecorder, status: int
) -> None:
    http_recorder.status = status
    http_recorder.answer = {"Messages": [{"Status": "error"}]}
    with pytest.raises(EmailDeliveryError) as caught:
        await MailjetProvider("k", "s", http_recorder.url).send(_message())
    assert caught.value.provider == "mailjet" and caught.value.status == status


async def test_mailjet_message_level_error_is_a_delivery_error(
    http_recorder: HTTPRecorder,
) -> None:
    http_recorder.answer = {"Messages": [{"Status": "error", "Errors": []}]}
    with pytest.raises(EmailDeliveryError, match="mailjet"):
        await MailjetProvider("k", "s", http_recorder.url).send(_message())


async def test_unreachable_api_is_a_delivery_error() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(EmailDeliveryError) as caught:
        await ResendProvider("k", url).send(_message())
    assert caught.value.provider == "resend" and caught.value.status is None
    assert "could not be reached" in str(caught.value)
