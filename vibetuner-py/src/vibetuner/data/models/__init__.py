"""Documents the framework stores itself; `init_db` registers them beside the app's."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from beanie import Document


def framework_models() -> list[type[Document]]:
    """Imported on demand: Beanie stays out of `import vibetuner`."""
    from vibetuner.data.models.audit import AuditEntry  # beanie: loads with the database
    from vibetuner.data.models.blob import Blob
    from vibetuner.data.models.dead_job import DeadJob
    from vibetuner.data.models.magic_link import MagicLinkToken
    from vibetuner.data.models.oauth_account import OAuthAccount
    from vibetuner.data.models.passkey import Passkey, PasskeyChallenge
    from vibetuner.data.models.user import User

    return [User, OAuthAccount, MagicLinkToken, DeadJob, Blob, AuditEntry, Passkey,
            PasskeyChallenge]  # fmt: skip
