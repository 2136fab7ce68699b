"""Every number a request carries (If-Match versions, the page limit, the cursor, note ids in
the path, the edge's viewer port) is bounded before it reaches the database: huge, negative,
other scripts' digits and padded numbers get the 4xx that input already answers, never a 5xx.

Python's ``int()`` takes Arabic-Indic digits ("٣" is 3) and ``str.isdigit()`` also takes
superscripts ("²", which ``int()`` then refuses), so neither is a validator on its own; and
bson refuses a Python int past int64 with OverflowError (bson/__init__.py ``_encode_int``).
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from notes_api.api.deps import viewer_address
from notes_api.core.errors import APIError
from notes_api.services.notes import MAX_PAGE, MAX_VERSION, parse_if_match
from tests.app.conftest import new_note, signup

NOTES = "/api/v1/notes"

# One app per test, many examples against it: the examples never change what they look at.
_EXAMPLES = settings(
    max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

_HUGE = st.integers(min_value=MAX_VERSION + 1, max_value=10**150).map(str)
_NEGATIVE = st.integers(min_value=-(10**150), max_value=-1).map(str)
# Decimal digits of every script but ASCII, and other characters isdigit() calls digits.
_FOREIGN_DIGIT = st.characters(categories=("Nd", "No")).filter(lambda c: not c.isascii())
_FOREIGN_NUMBER = (
    st.lists(st.one_of(_FOREIGN_DIGIT, st.sampled_from("0123456789")), min_size=1, max_size=25)
    .filter(lambda chars: not all(c.isascii() for c in chars))
    .map("".join)
)
# In range, but written with more digits than the largest version has.
_ZERO_PADDED = st.integers(min_value=0, max_value=10**6).map(lambda n: str(n).zfill(20))
_OWS = st.text(alphabet=" \t", max_size=3)
_UNHOLDABLE = st.one_of(_HUGE, _NEGATIVE, _FOREIGN_NUMBER, _ZERO_PADDED)


def _wire(value: str) -> bytes:
    # What a client can put on the wire: latin-1 where it fits (so "²" arrives as "²"), UTF-8
    # otherwise (the server decodes header bytes as latin-1, as a real server does).
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        return value.encode()


@pytest.fixture
def owner_with_note(client: TestClient) -> tuple[dict[str, str], dict[str, Any]]:
    user = signup(client)
    return user["headers"], new_note(client, user["headers"], title="untouched")


@settings(parent=_EXAMPLES)
@given(number=_UNHOLDABLE, quoted=st.booleans(), method=st.sampled_from(["PATCH", "DELETE"]))
@example(number=str(MAX_VERSION + 1), quoted=True, method="PATCH")
@example(number="\u0663", quoted=True, method="DELETE")  # Arabic-Indic 3
@example(
    number="\u0661", quoted=True, method="PATCH"
)  # Arabic-Indic 1: the note's version, in another script
@example(number="²", quoted=False, method="PATCH")
@example(number="9" * 100, quoted=True, method="DELETE")
def test_if_match_versions_the_storage_cannot_hold_are_412(
    client: TestClient,
    owner_with_note: tuple[dict[str, str], dict[str, Any]],
    number: str,
    quoted: bool,
    method: str,
) -> None:
    # GIVEN a note at version 1
    headers, note = owner_with_note
    tag = f'"{number}"' if quoted else number
    # WHEN it is written with an If-Match version no note can have
    response = client.request(
        method,
        f"{NOTES}/{note['id']}",
        json={"title": "changed"} if method == "PATCH" else None,
        headers={**headers, "If-Match": _wire(tag)},  # type: ignore[dict-item]
    )
    # THEN the answer is the 412 any foreign ETag gets (422 past the header's 200 characters)
    expected = 422 if len(_wire(tag)) > 200 else 412
    assert response.status_code == expected, (method, tag, response.status_code, response.text)
    if expected == 412:
        assert response.json()["code"] == "version_mismatch", response.text
        # refused as written, before the database was asked (a stale version gets its ETag)
        assert "ETag" not in response.headers, response.headers
    # AND the note is untouched
    current = client.get(f"{NOTES}/{note['id']}", headers=headers)
    assert current.status_code == 200 and current.json()["title"] == "untouched", current.text


@given(number=_UNHOLDABLE, weak=st.booleans())
@example(number="\u0661", weak=False)  # Arabic-Indic 1: int() reads it as 1
def test_parse_if_match_refuses_what_is_not_an_ascii_int64(number: str, weak: bool) -> None:
    # GIVEN a header value as a caller of the service could pass it (a server decodes header
    # bytes as latin-1, so other scripts' digits reach it only this way)
    header = f'{"W/" if weak else ""}"{number}"'
    # WHEN it is parsed THEN it is refused as a foreign ETag, never read as a number
    with pytest.raises(APIError) as refused:
        parse_if_match(header)
    assert (refused.value.status, refused.value.code) == (412, "version_mismatch")


@settings(parent=_EXAMPLES)
@given(
    version=st.integers(min_value=0, max_value=MAX_VERSION).filter(lambda v: v != 1), before=_OWS, after=_OWS
)
@example(version=MAX_VERSION, before="", after="")
@example(version=2, before=" \t", after=" ")
def test_if_match_versions_in_range_reach_the_database(
    client: TestClient,
    owner_with_note: tuple[dict[str, str], dict[str, Any]],
    version: int,
    before: str,
    after: str,
) -> None:
    # GIVEN a note at version 1
    headers, note = owner_with_note
    # WHEN it is deleted under another storable version, with optional whitespace around the ETag
    response = client.delete(
        f"{NOTES}/{note['id']}", headers={**headers, "If-Match": f'{before}"{version}"{after}'}
    )
    # THEN the database was asked and found it stale: 412 naming the current ETag
    assert response.status_code == 412, (version, response.text)
    assert response.headers["ETag"] == '"1"'


def test_if_match_with_whitespace_around_the_current_version_applies(
    client: TestClient, owner_with_note: tuple[dict[str, str], dict[str, Any]]
) -> None:
    # GIVEN a note at version 1
    headers, note = owner_with_note
    # WHEN it is deleted under its version with spaces and tabs around the ETag (RFC 9110 OWS)
    response = client.delete(f"{NOTES}/{note['id']}", headers={**headers, "If-Match": ' \t"1" , "7"\t'})
    # THEN it is gone
    assert response.status_code == 204, response.text
    assert client.get(f"{NOTES}/{note['id']}", headers=headers).status_code == 404


def _expected_limit_ok(value: str) -> bool:
    stripped = value.strip(" \t")
    return stripped.isascii() and stripped.isdigit() and 1 <= int(stripped) <= MAX_PAGE


@settings(parent=_EXAMPLES)
@given(
    value=st.one_of(
        _UNHOLDABLE, st.tuples(_OWS, st.integers(-5, MAX_PAGE + 5), _OWS).map(lambda t: f"{t[0]}{t[1]}{t[2]}")
    )
)
@example(value="\u0661\u0660")  # Arabic-Indic 10
@example(value=str(2**64))
@example(value=" 20 ")
def test_page_limit_outside_1_to_100_is_422(client: TestClient, value: str) -> None:
    # GIVEN a user with a note
    user = signup(client)
    new_note(client, user["headers"])
    # WHEN a page is asked for with that limit
    response = client.get(NOTES, params={"limit": value}, headers=user["headers"])
    # THEN an ASCII number from 1 to 100 (padded or not) lists, anything else is the 422 of a bad query
    if _expected_limit_ok(value):
        assert response.status_code == 200, (value, response.text)
        assert len(response.json()["items"]) == 1
    else:
        assert response.status_code == 422, (value, response.status_code, response.text)
        assert response.json()["code"] == "validation_error"


@settings(parent=_EXAMPLES)
@given(value=st.one_of(_UNHOLDABLE, st.integers(0, 10**30).map(str)))
def test_numeric_cursors_and_note_ids_are_refused_as_4xx(client: TestClient, value: str) -> None:
    # GIVEN a user
    user = signup(client)
    h = user["headers"]
    # WHEN a number is sent where a cursor or a note id goes
    cursor = client.get(NOTES, params={"cursor": value}, headers=h)
    # THEN the cursor is one this API did not issue (400; 422 past 200 characters)
    assert cursor.status_code == (422 if len(value) > 200 else 400), (value, cursor.text)
    # AND the note id names no note (404) on every route that takes one
    for method, body, extra in (
        ("GET", None, {}),
        ("PATCH", {"title": "x"}, {"If-Match": '"1"'}),
        ("DELETE", None, {"If-Match": '"1"'}),
    ):
        response = client.request(method, f"{NOTES}/{value}", json=body, headers={**h, **extra})
        assert response.status_code == 404, (method, value, response.status_code, response.text)


@given(address=st.sampled_from(["198.51.100.10", "[2001:db8::7]"]), port=_UNHOLDABLE)
@example(address="198.51.100.10", port="\u0664\u0666\u0665\u0663\u0662")  # Arabic-Indic 46532
@example(address="198.51.100.10", port="65536")
def test_viewer_address_with_a_port_no_socket_can_have_is_ignored(address: str, port: str) -> None:
    # GIVEN a CloudFront-Viewer-Address whose port is not an ASCII number up to 65535
    # WHEN it is parsed THEN it is not taken as the client's address (the peer is used instead)
    assert viewer_address(f"{address}:{port}") is None, port
