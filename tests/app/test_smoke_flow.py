from fastapi.testclient import TestClient

from tests.app.conftest import new_note, signup


def test_register_login_create_list_round_trip(client: TestClient) -> None:
    # GIVEN a new account
    user = signup(client)
    # WHEN it creates a note and lists its notes
    note = new_note(client, user["headers"], title="first", tags=["Work"])
    page = client.get("/api/v1/notes", headers=user["headers"])
    # THEN the note comes back, tags normalised, version 1
    assert page.status_code == 200, page.text
    assert [n["id"] for n in page.json()["items"]] == [note["id"]]
    assert note["tags"] == ["work"] and note["version"] == 1
