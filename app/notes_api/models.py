"""Request and response bodies. Inputs are strict: unknown fields, and so any
``$``-prefixed operator key, are rejected with 422 before they reach the database."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints, model_validator

MAX_TITLE = 200
MAX_BODY = 100_000
MAX_TAGS = 20

Tag = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        to_lower=True,
        min_length=1,
        max_length=40,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$",
    ),
]
Password = Annotated[str, Field(min_length=10, max_length=256)]


class StrictInput(BaseModel):
    model_config = ConfigDict(extra="forbid", str_max_length=MAX_BODY)


class RegisterRequest(StrictInput):
    email: EmailStr = Field(max_length=254)
    password: Password


class LoginRequest(StrictInput):
    email: EmailStr = Field(max_length=254)
    password: str = Field(min_length=1, max_length=256)


# Any string up to this length that is not a live refresh token (empty, truncated, an access
# token sent by mistake) is a 401 invalid_refresh_token from the service, like an unknown or
# spent one. Longer strings are 422 like every other over-long field (bodies past
# NOTES_MAX_BODY_BYTES are 413 before parsing): no access or refresh token comes near it, and
# the schema's maxLength keeps telling clients the bound.
MAX_REFRESH_TOKEN = 4096


class RefreshRequest(StrictInput):
    refresh_token: str = Field(max_length=MAX_REFRESH_TOKEN)


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 (a scheme name, not a secret)
    expires_in: int = Field(description="seconds until the access token expires")
    refresh_expires_in: int


class UserOut(BaseModel):
    id: str
    email: EmailStr
    created_at: datetime


class NoteCreate(StrictInput):
    title: str = Field(min_length=1, max_length=MAX_TITLE)
    body: str = Field("", max_length=MAX_BODY, description="markdown text")
    tags: list[Tag] = Field(default_factory=list, max_length=MAX_TAGS)
    pinned: bool = False
    archived: bool = False


class NoteUpdate(StrictInput):
    """Partial update; send If-Match with the ETag (or version) you read."""

    title: str | None = Field(None, min_length=1, max_length=MAX_TITLE)
    body: str | None = Field(None, max_length=MAX_BODY)
    tags: list[Tag] | None = Field(None, max_length=MAX_TAGS)
    pinned: bool | None = None
    archived: bool | None = None

    @model_validator(mode="after")
    def _something_to_change(self) -> NoteUpdate:
        if not self.model_fields_set:
            raise ValueError("at least one field is required")
        for name in self.model_fields_set:
            if getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self

    def changes(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.model_fields_set}


class NoteOut(BaseModel):
    id: str
    title: str
    body: str
    tags: list[str]
    pinned: bool
    archived: bool
    version: int = Field(description="increases on every update; the ETag is its quoted value")
    created_at: datetime
    updated_at: datetime


class NotePage(BaseModel):
    items: list[NoteOut]
    next_cursor: str | None = Field(None, description="pass as ?cursor= for the next page; null at the end")


class ErrorBody(BaseModel):
    detail: str
    code: str
    request_id: str | None = None
    errors: list[dict[str, Any]] | None = Field(None, description="field errors, on 422 only")


class HealthOut(BaseModel):
    status: Literal["ok"]


class ReadyOut(BaseModel):
    status: Literal["ready", "degraded", "not_ready", "draining"]
    checks: dict[str, str]


ExportState = Literal["queued", "running", "done", "failed"]


class ExportAccepted(BaseModel):
    id: str = Field(description="the export's id")
    status: ExportState = Field(description="queued for a new export; the current status for a replayed key")
    status_url: str = Field(description="GET it for the status and, once done, the download URL")


class ExportOut(BaseModel):
    id: str
    status: ExportState
    created_at: datetime
    updated_at: datetime
    expires_at: datetime = Field(description="when the export and this record are deleted")
    note_count: int | None = Field(None, description="notes in the export, once done")
    size_bytes: int | None = Field(None, description="size of the gzip-compressed JSON document, once done")
    error: str | None = Field(None, description="why the export failed, when failed")
    download_url: str | None = Field(
        None, description="short-lived URL of the export (application/gzip), only when done"
    )
    download_expires_at: datetime | None = Field(None, description="when download_url stops working")
