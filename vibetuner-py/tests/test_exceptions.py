from vibetuner.exceptions import ConfigError, VibetunerError


def test_error_carries_its_fix() -> None:
    error = ConfigError("SECRET_KEY is not set.", fix="Set SECRET_KEY in .env")
    assert isinstance(error, VibetunerError)
    assert str(error) == "SECRET_KEY is not set.\nFix: Set SECRET_KEY in .env"


def test_error_without_fix_is_just_the_message() -> None:
    assert str(VibetunerError("boom")) == "boom"
