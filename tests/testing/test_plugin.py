"""The pytest plugin, as a user's test suite sees it (run with ``pytester``)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs" / "testing.md"


def python_blocks(markdown: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", markdown, flags=re.DOTALL)


def test_the_example_in_docs_testing_md_passes(pytester: pytest.Pytester) -> None:
    example = python_blocks(DOCS.read_text(encoding="utf-8"))[0]
    assert "def test_" in example and "party_server" in example
    pytester.makepyfile(test_example=example)
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


USER_TESTS = """
import socket

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect


def test_relay_drop_and_inspection(party_server):
    with connect(party_server.url("lobby") + "?_pk=alice") as alice, connect(
        party_server.url("lobby") + "?_pk=bob"
    ) as bob:
        party_server.wait_for(lambda: party_server.connections("lobby") == {"alice", "bob"})
        alice.send("hi")
        assert bob.recv(5) == "hi"
        assert party_server.messages("lobby") == ["hi"]
        party_server.drop_all()
        assert party_server.connections("lobby") == set()
        with pytest.raises(Exception):
            bob.recv(5)


def test_refuse_and_resume(party_server):
    party_server.refuse(401)
    with pytest.raises(InvalidStatus) as info:
        connect(party_server.url("lobby"))
    assert info.value.response.status_code == 401
    party_server.resume()
    with connect(party_server.url("lobby")):
        pass


def test_hang_handshakes_times_out_the_client(party_server):
    party_server.hang_handshakes()
    with pytest.raises(TimeoutError):
        connect(party_server.url("lobby"), open_timeout=0.2)
    party_server.resume()


@pytest.mark.party_server(echo=True)
def test_marker_options(party_server):
    with connect(party_server.url("lobby")) as ws:
        ws.send("echo?")
        assert ws.recv(5) == "echo?"


def test_a_failing_expectation_fails(party_server):
    party_server.wait_for(lambda: party_server.messages("lobby") == ["never sent"], timeout=0.2)


def test_a_wrong_assertion_fails(party_server):
    with connect(party_server.url("lobby")) as ws:
        ws.send("one")
        party_server.wait_for(lambda: party_server.messages("lobby") != [])
    assert party_server.messages("lobby") == ["two"]
"""


def test_a_users_suite_passes_and_failing_expectations_fail(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user=USER_TESTS)
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=4, failed=2)
    result.stdout.fnmatch_lines(
        [
            "FAILED test_user.py::test_a_failing_expectation_fails - TimeoutError*",
            "FAILED test_user.py::test_a_wrong_assertion_fails - AssertionError*",
        ]
    )


def test_the_fixture_and_marker_are_listed(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess("--fixtures", "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(["party_server*", "*A running*PartyServer*"])
    result = pytester.runpytest_subprocess("--markers", "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(["@pytest.mark.party_server(**options)*"])
