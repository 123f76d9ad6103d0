"""API input and output models of the core. Inputs refuse unknown fields; outputs never expose secrets."""

from __future__ import annotations

import re
import zoneinfo
from datetime import datetime
from functools import cache
from typing import Annotated, Generic, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from fundapp.core.models import Role

T = TypeVar("T")

USERNAME_RULE = re.compile(r"^[a-z0-9][a-z0-9._-]{2,63}$")
MIN_PASSWORD_LENGTH = 12


# The widest integer every id column holds on every backend (INTEGER on PostgreSQL).
INT32_MAX = 2**31 - 1
Id = Annotated[int, Field(gt=0, le=INT32_MAX)]


def _has_nul(value: object) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, list | tuple):
        return any(_has_nul(v) for v in value)
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    return False


class Input(BaseModel):
    """Base of every request body: unknown fields are an error, strings are trimmed, NUL is refused."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)

    @field_validator("*", mode="before")
    @classmethod
    def _no_nul_characters(cls, value: object) -> object:
        # No text column on PostgreSQL can store NUL; refusing it everywhere keeps both backends alike.
        if _has_nul(value):
            raise PydanticCustomError("nul_character", "text may not contain the NUL character")
        return value


class Output(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class Page(Output, Generic[T]):
    """A page of a list: ``items`` and the total matching the filters."""

    items: list[T]
    total: int
    limit: int
    offset: int


Username = Annotated[str, StringConstraints(min_length=3, max_length=64)]
Password = Annotated[str, StringConstraints(min_length=1, max_length=1024)]


class LoginInput(Input):
    username: Username
    password: Password


class UserCreate(Input):
    username: Username
    full_name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    # Kept in lower case: one account per address, whatever its case.
    email: Annotated[
        str,
        StringConstraints(
            min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", to_lower=True, strip_whitespace=True
        ),
    ]
    password: Annotated[str, StringConstraints(min_length=MIN_PASSWORD_LENGTH, max_length=1024)]
    roles: Annotated[list[Role], Field(min_length=1)]
    # Validated even when absent, so the binding rule names the field it concerns.
    member_code: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] | None = Field(
        default=None, validate_default=True
    )
    organisation_id: Id | None = Field(default=None, validate_default=True)

    @field_validator("username")
    @classmethod
    def _username_shape(cls, value: str) -> str:
        value = value.lower()
        if not USERNAME_RULE.match(value):
            raise ValueError("use 3-64 lowercase letters, digits, '.', '_' or '-', starting with a letter or digit")
        return value

    @field_validator("roles")
    @classmethod
    def _distinct_roles(cls, value: list[Role]) -> list[Role]:
        return sorted(set(value))

    @field_validator("member_code")
    @classmethod
    def _delegate_binding(cls, value: str | None, info: ValidationInfo) -> str | None:
        is_delegate = Role.MEMBER_DELEGATE in info.data.get("roles", ())
        if is_delegate != (value is not None):
            raise PydanticCustomError(
                "delegate_binding", "member_code is required for, and only for, a member_delegate"
            )
        return value

    @field_validator("organisation_id")
    @classmethod
    def _grantee_binding(cls, value: int | None, info: ValidationInfo) -> int | None:
        is_grantee = Role.GRANTEE in info.data.get("roles", ())
        if is_grantee != (value is not None):
            raise PydanticCustomError("grantee_binding", "organisation_id is required for, and only for, a grantee")
        return value


class UserPublic(Output):
    id: int
    username: str
    full_name: str
    email: str
    is_active: bool
    roles: list[Role]
    # Finance roles given by an administrator and waiting for a second one's approval (not held yet).
    pending_roles: list[Role] = []
    member_code: str | None
    organisation_id: int | None
    locale: str | None = None
    time_zone: str | None = None
    created_at: datetime
    disabled_at: datetime | None


class RoleGrantPublic(Output):
    id: int
    user_id: int
    username: str
    role: Role
    status: str
    requested_by: int
    requested_at: datetime
    decided_by: int | None
    decided_at: datetime | None
    reason: str


class RoleGrantDecision(Input):
    reason: Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)] = ""


class MePublic(UserPublic):
    auth: str
    csrf_token: str | None = None


class LoginPublic(Output):
    user: UserPublic
    csrf_token: str
    expires_at: datetime
    idle_timeout_seconds: int


class PasswordChange(Input):
    current_password: Annotated[str, StringConstraints(min_length=1, max_length=1024)]
    new_password: Annotated[str, StringConstraints(min_length=MIN_PASSWORD_LENGTH, max_length=1024)]
    confirm_password: Annotated[str, StringConstraints(min_length=1, max_length=1024)]

    @model_validator(mode="after")
    def _confirmed(self) -> PasswordChange:
        if self.confirm_password != self.new_password:
            raise PydanticCustomError("passwords_match", "the confirmation differs from the new password")
        return self


def _known_zone(value: str | None) -> str | None:
    if value is not None and value not in _time_zones():
        raise PydanticCustomError("time_zone", "not a time zone of the IANA database (e.g. Europe/Geneva)")
    return value


@cache
def _time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


class Preferences(Input):
    locale: Literal["en", "es", "fr"] | None = Field(default=None, description="the pages' language")
    time_zone: Annotated[str | None, AfterValidator(_known_zone)] = Field(
        default=None, description="IANA time zone the pages show times in (default UTC)"
    )


class TokenCreate(Input):
    name: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    expires_in_days: Annotated[int, Field(ge=1, le=366)] | None = None


class TokenPublic(Output):
    id: int
    name: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


class TokenCreated(TokenPublic):
    token: str = Field(description="The secret, shown once; only its hash is kept.")


class AuditEventPublic(Output):
    seq: int
    occurred_at: datetime
    actor_id: int | None
    actor_label: str
    action: str
    object_type: str
    object_id: str
    before: str
    after: str
    prev_hash: str
    hash: str


class HealthPublic(Output):
    status: str
    database: str
