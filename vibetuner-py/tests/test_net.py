import pytest

from vibetuner.server._net import in_networks, parse_networks


def test_addresses_match_their_networks() -> None:
    networks = parse_networks(["10.0.0.0/8", " 2001:db8::/32 ", "", "192.0.2.7"])
    assert in_networks("10.1.2.3", networks)
    assert in_networks("2001:db8::1", networks)
    assert in_networks("192.0.2.7", networks)
    assert not in_networks("203.0.113.9", networks)
    assert not in_networks("not-an-ip", networks)
    assert not in_networks(None, networks)


def test_ipv4_mapped_ipv6_peers_count_as_ipv4() -> None:
    assert in_networks("::ffff:10.0.0.5", parse_networks(["10.0.0.0/8"]))


def test_invalid_entries_raise_or_are_reported() -> None:
    with pytest.raises(ValueError):
        parse_networks(["10.0.0.0/8", "nope"])
    skipped: list[str] = []
    assert len(parse_networks(["nope", "10.0.0.0/8"], on_invalid=skipped.append)) == 1
    assert skipped == ["nope"]
