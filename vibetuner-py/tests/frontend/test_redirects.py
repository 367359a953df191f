import pytest

from vibetuner.frontend._redirects import safe_next


@pytest.mark.parametrize("value", ["/", "/posts", "/posts?page=2#top", "/a/b%2Fc"])
def test_same_origin_paths_are_kept(value: str) -> None:
    assert safe_next(value) == value


@pytest.mark.parametrize(
    "value",
    [
        None, "", "https://evil.example", "//evil.example", "/\\evil.example",
        "\\\\evil.example", "javascript:alert(1)", "evil.example", "/\nLocation: x",
        "http:/evil.example", "/" + "a" * 3000,
    ],
)  # fmt: skip
def test_everything_else_goes_home(value: str | None) -> None:
    assert safe_next(value) == "/"
