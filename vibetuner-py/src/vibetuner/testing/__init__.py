"""Test support for Vibetuner apps and for the framework itself: real servers on free ports
(MongoDB-wire, Redis, SMTP, S3, OpenID), the project served for real, and a real browser.

The pytest plugin (`vibetuner.testing._plugin`, registered by the package) holds only the
fixtures; each loads what it needs when it runs. Names here load on first use too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vibetuner._lazy import lazy

_EXPORTS = {
    "LiveServer": "vibetuner.testing._live",
    "MAGIC_CONFIRM": "vibetuner.testing._live",
    "RedisServer": "vibetuner.testing._redis",
    "S3Server": "vibetuner.testing._s3",
    "SMTPSink": "vibetuner.testing._mail",
    "SoftAuthenticator": "vibetuner.testing._webauthn",
    "Screenshot": "vibetuner.testing._live",
    "csrf_token_of": "vibetuner.testing._live",
    "local_redis": "vibetuner.testing._redis",
    "sign_in_as": "vibetuner.testing._live",
    "sign_in_form_of": "vibetuner.testing._live",
    "watch_page": "vibetuner.testing._live",
}

__all__ = [
    "MAGIC_CONFIRM",
    "LiveServer",
    "RedisServer",
    "S3Server",
    "SMTPSink",
    "Screenshot",
    "SoftAuthenticator",
    "csrf_token_of",
    "local_redis",
    "sign_in_as",
    "sign_in_form_of",
    "watch_page",
]

if TYPE_CHECKING:
    from vibetuner.testing._live import (
        MAGIC_CONFIRM,
        LiveServer,
        Screenshot,
        csrf_token_of,
        sign_in_as,
        sign_in_form_of,
        watch_page,
    )
    from vibetuner.testing._mail import SMTPSink
    from vibetuner.testing._redis import RedisServer, local_redis
    from vibetuner.testing._s3 import S3Server
    from vibetuner.testing._webauthn import SoftAuthenticator


__getattr__ = lazy(__name__, _EXPORTS, globals())
