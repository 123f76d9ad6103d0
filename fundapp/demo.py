"""The demo facility: loaded by ``fundapp demo`` and ``make run``; loading it again adds nothing.

Every demo account shares one documented password (README, "Demo logins"). Never load it into a
production database: the CLI refuses to.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fundapp.core import accounts
from fundapp.core.clock import Clock
from fundapp.core.config import Settings
from fundapp.core.db import Database
from fundapp.core.models import Role
from fundapp.core.schemas import UserCreate
from fundapp.core.security import PasswordHashing

DEMO_PASSWORD = "fundapp-demo-2026"  # noqa: S105 - documented demo credential, refused in production


@dataclass(frozen=True, slots=True)
class DemoUser:
    username: str
    full_name: str
    roles: tuple[Role, ...]
    member_code: str | None = None
    organisation_id: int | None = None


DEMO_USERS: tuple[DemoUser, ...] = (
    DemoUser("admin", "Secretariat administrator", (Role.SECRETARIAT_ADMIN,)),
    DemoUser("finance", "Finance officer", (Role.FINANCE_OFFICER,)),
    DemoUser("approver", "Finance approver", (Role.FINANCE_APPROVER,)),
    DemoUser("reviewer", "Technical Advisory Group reviewer", (Role.TAG_REVIEWER,)),
    DemoUser("delegate.mex", "Delegate of Mexico", (Role.MEMBER_DELEGATE,), member_code="MEX"),
    DemoUser("grantee", "Grantee organisation officer", (Role.GRANTEE,), organisation_id=1),
    DemoUser("auditor", "External auditor", (Role.AUDITOR,)),
)


@dataclass
class DemoReport:
    created: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)

    def describe(self) -> str:
        lines = [
            "demo facility: "
            + (f"created {len(self.created)} records" if self.created else "already loaded, nothing added"),
            "",
            f"demo logins (password for every account: {DEMO_PASSWORD})",
        ]
        for user in DEMO_USERS:
            binding = f" for {user.member_code}" if user.member_code else ""
            binding += f" for organisation {user.organisation_id}" if user.organisation_id else ""
            lines.append(f"  {user.username:<14} {', '.join(r.value for r in user.roles)}{binding}")
        return "\n".join(lines)


async def load(database: Database, settings: Settings, clock: Clock) -> DemoReport:
    report = DemoReport()
    hashing = PasswordHashing(settings)
    async with database.session() as session:
        for demo_user in DEMO_USERS:
            if await accounts.find_user(session, demo_user.username) is not None:
                report.existing.append(f"user {demo_user.username}")
                continue
            data = UserCreate(
                username=demo_user.username,
                full_name=demo_user.full_name,
                email=f"{demo_user.username}@demo.fundapp.invalid",
                password=DEMO_PASSWORD,
                roles=list(demo_user.roles),
                member_code=demo_user.member_code,
                organisation_id=demo_user.organisation_id,
            )
            await accounts.create_user(session, data, hashing=hashing, actor=None, now=clock.now())
            report.created.append(f"user {demo_user.username}")
        await session.commit()
    return report
