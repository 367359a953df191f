"""The security tests reuse the i18n tests' small app (templates, a Spanish catalog, real
SecantusDB) for the routes they attack."""

from tests.i18n.conftest import make_app

__all__ = ["make_app"]
