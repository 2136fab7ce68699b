"""Notes: CRUD, isolation between users, optimistic concurrency and cursor paging."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.app.conftest import new_note, signup

NOTES = "/api/v1/notes"


def _all_pages(client: TestClient, headers: dict[str, str], **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    for _ in range(100):
        query = dict(params, **({"cursor": cursor} if cursor else {}))
        page = client.get(NOTES, params=query, headers=headers)
        assert page.status_code == 200, page.text
        items += page.json()["items"]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError("pagination did not end")


def test_create_returns_201_location_etag_and_the_note(client: TestClient) -> None:
    user = signup(client)
    response = client.post(
        NOTES,
        json={"title": "t", "body": "# heading", "tags": ["a", "B"], "pinned": True},
        headers=user["headers"],
    )
    assert response.status_code == 201, response.text
    note = response.json()
    assert response.headers["Location"] == f"{NOTES}/{note['id']}"
    assert response.headers["ETag"] == '"1"'
    assert note["tags"] == ["a", "b"] and note["pinned"] is True and note["archived"] is False
    assert note["created_at"] == note["updated_at"]


def test_get_returns_the_note_with_its_etag(client: TestClient) -> None:
    user = signup(client)
    note = new_note(client, user["headers"], title="hello")
    got = client.get(f"{NOTES}/{note['id']}", headers=user["headers"])
    assert got.status_code == 200 and got.json() == note
    assert got.headers["ETag"] == '"1"'


@pytest.mark.parametrize("note_id", ["000000000000000000000000", "not-an-object-id"])
def test_missing_note_is_404(client: TestClient, note_id: str) -> None:
    user = signup(client)
    response = client.get(f"{NOTES}/{note_id}", headers=user["headers"])
    assert response.status_code == 404 and response.json()["code"] == "not_found"


def test_another_users_note_answers_exactly_like_a_missing_one(client: TestClient) -> None:
    # GIVEN alice's note
    alice, mallory = signup(client), signup(client)
    note = new_note(client, alice["headers"])
    missing = client.get(f"{NOTES}/000000000000000000000000", headers=mallory["headers"])
    # WHEN mallory reads, changes or deletes it
    read = client.get(f"{NOTES}/{note['id']}", headers=mallory["headers"])
    patch = client.patch(
        f"{NOTES}/{note['id']}", json={"title": "pwned"}, headers={**mallory["headers"], "If-Match": '"1"'}
    )
    delete = client.delete(f"{NOTES}/{note['id']}", headers=mallory["headers"])
    listing = client.get(NOTES, headers=mallory["headers"])
    # THEN every answer is the 404 of a missing note, and nothing changed for alice
    for response in (read, patch, delete):
        assert response.status_code == 404, response.request.method
        assert {k: v for k, v in response.json().items() if k != "request_id"} == {
            k: v for k, v in missing.json().items() if k != "request_id"
        }
    assert listing.json()["items"] == []
    assert client.get(f"{NOTES}/{note['id']}", headers=alice["headers"]).json() == note


def test_update_with_current_version_applies_and_bumps_version(client: TestClient) -> None:
    user = signup(client)
    note = new_note(client, user["headers"])
    response = client.patch(
        f"{NOTES}/{note['id']}",
        json={"title": "new", "archived": True},
        headers={**user["headers"], "If-Match": '"1"'},
    )
    assert response.status_code == 200, response.text
    updated = response.json()
    assert (updated["title"], updated["archived"], updated["version"]) == ("new", True, 2)
    assert updated["body"] == note["body"]
    assert updated["updated_at"] >= note["updated_at"]
    assert response.headers["ETag"] == '"2"'


def test_stale_write_is_refused_and_never_overwrites(client: TestClient) -> None:
    # GIVEN two clients that both read version 1
    user = signup(client)
    note = new_note(client, user["headers"])
    first = client.patch(
        f"{NOTES}/{note['id']}", json={"body": "first writer"}, headers={**user["headers"], "If-Match": '"1"'}
    )
    assert first.status_code == 200
    # WHEN the second writes with its stale version
    second = client.patch(
        f"{NOTES}/{note['id']}",
        json={"body": "second writer"},
        headers={**user["headers"], "If-Match": '"1"'},
    )
    # THEN 412 with the current ETag, and the first write survives
    assert second.status_code == 412 and second.json()["code"] == "version_mismatch"
    assert second.headers["ETag"] == '"2"'
    assert client.get(f"{NOTES}/{note['id']}", headers=user["headers"]).json()["body"] == "first writer"


def test_update_without_if_match_is_428(client: TestClient) -> None:
    user = signup(client)
    note = new_note(client, user["headers"])
    response = client.patch(f"{NOTES}/{note['id']}", json={"title": "x"}, headers=user["headers"])
    assert response.status_code == 428 and response.json()["code"] == "precondition_required"


def test_if_match_accepts_weak_lists_and_star(client: TestClient) -> None:
    user = signup(client)
    note = new_note(client, user["headers"])
    weak = client.patch(
        f"{NOTES}/{note['id']}", json={"title": "a"}, headers={**user["headers"], "If-Match": 'W/"7", "1"'}
    )
    star = client.patch(
        f"{NOTES}/{note['id']}", json={"title": "b"}, headers={**user["headers"], "If-Match": "*"}
    )
    junk = client.patch(
        f"{NOTES}/{note['id']}", json={"title": "c"}, headers={**user["headers"], "If-Match": "abc"}
    )
    assert (weak.status_code, star.status_code, junk.status_code) == (200, 200, 412)
    assert star.json()["version"] == 3


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"title": None},
        {"title": ""},
        {"version": 9},
        {"$set": {"owner_id": "x"}},
        {"tags": ["$where"]},
        {"title": "x" * 201},
        {"tags": [f"t{i}" for i in range(21)]},
    ],
)
def test_update_rejects_invalid_bodies(client: TestClient, body: dict[str, Any]) -> None:
    user = signup(client)
    note = new_note(client, user["headers"])
    response = client.patch(
        f"{NOTES}/{note['id']}", json=body, headers={**user["headers"], "If-Match": '"1"'}
    )
    assert response.status_code == 422, (body, response.text)
    assert client.get(f"{NOTES}/{note['id']}", headers=user["headers"]).json() == note


@pytest.mark.parametrize(
    "body",
    [
        {"body": "no title"},
        {"title": "t", "owner_id": "someone"},
        {"title": "t", "$inc": {"version": 1}},
        {"title": {"$gt": ""}},
        {"title": "t", "pinned": "maybe"},
        {"title": "t", "body": "x" * 100_001},
    ],
)
def test_create_rejects_unknown_operator_and_malformed_fields(
    client: TestClient, body: dict[str, Any]
) -> None:
    user = signup(client)
    response = client.post(NOTES, json=body, headers=user["headers"])
    assert response.status_code == 422, (body, response.text)
    assert response.json()["code"] == "validation_error"


def test_delete_then_gone(client: TestClient) -> None:
    user = signup(client)
    note = new_note(client, user["headers"])
    assert client.delete(f"{NOTES}/{note['id']}", headers=user["headers"]).status_code == 204
    assert client.get(f"{NOTES}/{note['id']}", headers=user["headers"]).status_code == 404
    assert client.delete(f"{NOTES}/{note['id']}", headers=user["headers"]).status_code == 404


def test_delete_with_stale_if_match_is_refused(client: TestClient) -> None:
    user = signup(client)
    note = new_note(client, user["headers"])
    client.patch(
        f"{NOTES}/{note['id']}", json={"title": "v2"}, headers={**user["headers"], "If-Match": '"1"'}
    )
    stale = client.delete(f"{NOTES}/{note['id']}", headers={**user["headers"], "If-Match": '"1"'})
    assert stale.status_code == 412
    fresh = client.delete(f"{NOTES}/{note['id']}", headers={**user["headers"], "If-Match": '"2"'})
    assert fresh.status_code == 204


def test_list_is_newest_first_and_filters_by_tag_pinned_archived(client: TestClient) -> None:
    user = signup(client)
    h = user["headers"]
    a = new_note(client, h, title="a", tags=["work"])
    b = new_note(client, h, title="b", tags=["home"], pinned=True)
    c = new_note(client, h, title="c", tags=["work", "home"], archived=True)

    def ids(**params: Any) -> list[str]:
        response = client.get(NOTES, params=params, headers=h)
        assert response.status_code == 200, (params, response.text)
        return [n["id"] for n in response.json()["items"]]

    assert ids() == [c["id"], b["id"], a["id"]]
    assert ids(tag="work") == [c["id"], a["id"]]
    assert ids(tag="WORK") == [c["id"], a["id"]]
    assert ids(pinned="true") == [b["id"]]
    assert ids(archived="false") == [b["id"], a["id"]]
    assert ids(tag="home", archived="true") == [c["id"]]


def test_pagination_has_no_duplicates_or_gaps_while_notes_are_inserted(client: TestClient) -> None:
    # GIVEN 25 notes
    user = signup(client)
    h = user["headers"]
    originals = [new_note(client, h, title=f"n{i}")["id"] for i in range(25)]
    # WHEN a client pages through 7 at a time while new notes keep arriving between pages
    seen: list[str] = []
    cursor = None
    inserted = []
    while True:
        page = client.get(
            NOTES, params={"limit": 7, **({"cursor": cursor} if cursor else {})}, headers=h
        ).json()
        seen += [n["id"] for n in page["items"]]
        inserted.append(new_note(client, h, title="late")["id"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    # THEN every original note was seen exactly once, newest first, and no late one slipped in
    assert seen == list(reversed(originals))
    assert not set(inserted) & set(seen)


def test_pagination_respects_limit_bounds(client: TestClient) -> None:
    user = signup(client)
    for bad in ("0", "101", "x"):
        response = client.get(NOTES, params={"limit": bad}, headers=user["headers"])
        assert response.status_code == 422, bad
    for i in range(3):
        new_note(client, user["headers"], title=str(i))
    assert len(_all_pages(client, user["headers"], limit=1)) == 3
    assert client.get(NOTES, params={"limit": 100}, headers=user["headers"]).status_code == 200


def test_cursor_is_opaque_and_validated(client: TestClient) -> None:
    user = signup(client)
    for i in range(3):
        new_note(client, user["headers"], title=str(i), tags=["x"])
    cursor = client.get(NOTES, params={"limit": 1}, headers=user["headers"]).json()["next_cursor"]
    # A cursor for one filter set cannot be replayed against another.
    other_filter = client.get(
        NOTES, params={"limit": 1, "tag": "x", "cursor": cursor}, headers=user["headers"]
    )
    garbage = client.get(NOTES, params={"cursor": "!!!notbase64"}, headers=user["headers"])
    assert other_filter.status_code == 400 and other_filter.json()["code"] == "invalid_cursor"
    assert garbage.status_code == 400 and garbage.json()["code"] == "invalid_cursor"


def test_another_users_cursor_reveals_nothing(client: TestClient) -> None:
    alice, bob = signup(client), signup(client)
    for i in range(3):
        new_note(client, alice["headers"], title=str(i))
    cursor = client.get(NOTES, params={"limit": 1}, headers=alice["headers"]).json()["next_cursor"]
    page = client.get(NOTES, params={"limit": 1, "cursor": cursor}, headers=bob["headers"])
    assert page.status_code == 200 and page.json()["items"] == []


def test_notes_need_authentication(client: TestClient) -> None:
    for method, path in (("get", NOTES), ("post", NOTES), ("get", f"{NOTES}/x"), ("delete", f"{NOTES}/x")):
        response = client.request(method.upper(), path, json={"title": "t"} if method == "post" else None)
        assert response.status_code == 401, (method, path)
