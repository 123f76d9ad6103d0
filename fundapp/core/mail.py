"""E-mail notifications: who gets one, in their language, and sending each exactly once (docs/operations.md).

The domains say what is to be told (a ``Notice``: a key naming the event and its recipient, a subject and a
body as gettext message ids of their own catalogue, and the values to put in). This module renders a notice
in the recipient's language and time zone and delivers it through SMTP, once:

1. the keys already recorded in ``notifications`` are skipped (one read for the whole batch);
2. a notice is claimed by inserting its row (``status = sending``) in a committed transaction; the key is
   unique, so of two workers (or a retry) only one inserts it;
3. the claimant sends it, then marks it ``sent``. A failed send deletes the claim, so the next run tries
   again. A claim left ``sending`` by a worker that died is taken over after ``CLAIM_LEASE``: the one case
   where a message may go twice (the SMTP server accepted it just before the process died).
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.dates import format_date, format_time
from sqlalchemy import delete, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from fundapp.core.config import Settings
from fundapp.core.models import Notification, Role, User, UserRole
from fundapp.core.web import i18n

log = logging.getLogger("fundapp.mail")

CLAIM_LEASE = timedelta(minutes=30)
SENDING, SENT = "sending", "sent"
UTC_ZONE = ZoneInfo("UTC")

# A value put into a notice's text: plain, a date or a moment (in the reader's language and zone), or a
# function of the reader's language (money, a translated word).
Value = str | int | date | datetime | Callable[[str], str]


@dataclass(frozen=True, slots=True)
class Recipient:
    user_id: int
    email: str
    full_name: str
    locale: str | None
    time_zone: str | None
    member_code: str | None = None
    organisation_id: int | None = None


@dataclass(frozen=True, slots=True)
class Notice:
    """One message to one user. ``subject`` and ``body`` are message ids (``N_``) of a registered catalogue
    with ``%(name)s`` placeholders; ``key`` names the event and the user, and is sent once."""

    key: str
    recipient: Recipient
    subject: str
    body: str
    params: Mapping[str, Value] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Email:
    key: str
    user_id: int
    to: str
    locale: str
    subject: str
    body: str


class Mailer(Protocol):
    async def send(self, email: Email, now: datetime) -> None: ...


async def recipients(
    session: AsyncSession,
    role: Role,
    *,
    member_codes: Iterable[str] | None = None,
    organisation_ids: Iterable[int] | None = None,
) -> list[Recipient]:
    """The active users holding ``role`` who have an address (delegates of these members, grantees of these
    organisations), by id."""
    query = (
        select(User)
        .join(UserRole, col(UserRole.user_id) == col(User.id))
        .where(col(UserRole.role) == role.value, col(User.is_active).is_(True), col(User.email) != "")
        .order_by(col(User.id))
    )
    if member_codes is not None:
        query = query.where(col(User.member_code).in_(sorted(set(member_codes))))
    if organisation_ids is not None:
        query = query.where(col(User.organisation_id).in_(sorted(set(organisation_ids))))
    return [
        Recipient(
            user_id=user.id or 0,
            email=user.email,
            full_name=user.full_name,
            locale=user.locale,
            time_zone=user.time_zone,
            member_code=user.member_code,
            organisation_id=user.organisation_id,
        )
        for user in (await session.execute(query)).scalars()
    ]


def _zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name) if name else UTC_ZONE
    except (ZoneInfoNotFoundError, ValueError):
        return UTC_ZONE


def _babel_locale(locale: str) -> str:
    return {"en": "en_GB"}.get(locale, locale)


def _text(value: Value, locale: str, zone: ZoneInfo) -> str:
    babel = _babel_locale(locale)
    if isinstance(value, datetime):
        local = value.astimezone(zone)
        clock = format_time(local, "HH:mm", locale=babel)
        return f"{format_date(local.date(), 'long', locale=babel)} {clock} {local.tzname() or ''}".strip()
    if isinstance(value, date):
        return format_date(value, "long", locale=babel)
    if callable(value):
        return value(locale)
    return str(value)


def render(notice: Notice, settings: Settings) -> Email:
    """The notice in its recipient's language (their choice, else the facility's default) and time zone."""
    recipient = notice.recipient
    locale = recipient.locale if recipient.locale in i18n.LOCALES else settings.default_locale
    zone = _zone(recipient.time_zone)
    with i18n.using(locale):
        values = {"name": recipient.full_name, **{k: _text(v, locale, zone) for k, v in notice.params.items()}}
        subject = i18n.gettext(notice.subject) % values
        body = i18n.gettext(notice.body) % values
    return Email(notice.key, recipient.user_id, recipient.email, locale, subject.replace("\n", " "), body)


class SmtpMailer:
    """Sends through the SMTP server of the settings (one connection per message, in a worker thread)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def send(self, email: Email, now: datetime) -> None:
        await asyncio.to_thread(self._send, email, now)

    def message(self, email: Email, now: datetime) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self.settings.smtp_from
        message["To"] = email.to
        message["Subject"] = email.subject
        message["Date"] = format_datetime(now)  # the facility's clock, as every date it writes
        message["Message-ID"] = make_msgid(domain=self.settings.smtp_from.rpartition("@")[2] or None)
        message["X-Fundapp-Notification"] = email.key
        message.set_content(email.body)
        message["Content-Language"] = email.locale  # after the content, which replaces every Content- header
        return message

    def _send(self, email: Email, now: datetime) -> None:
        s = self.settings
        with smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=30) as smtp:
            if s.smtp_starttls:
                smtp.starttls()
            if s.smtp_username:
                smtp.login(s.smtp_username, s.smtp_password)
            smtp.send_message(self.message(email, now))


def mailer_for(settings: Settings) -> Mailer | None:
    """The SMTP mailer, or None when no SMTP host is set (nothing is sent then, nor recorded)."""
    return SmtpMailer(settings) if settings.smtp_host else None


def _insert(session: AsyncSession) -> Any:
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


async def _done_keys(database: Any, keys: Sequence[str], now: datetime) -> set[str]:
    """The keys sent, or claimed by a worker within the lease."""
    done: set[str] = set()
    async with database.session(write=False) as session:
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            done.update(
                (
                    await session.execute(
                        select(col(Notification.key)).where(
                            col(Notification.key).in_(chunk),
                            or_(col(Notification.status) == SENT, col(Notification.claimed_at) > now - CLAIM_LEASE),
                        )
                    )
                ).scalars()
            )
    return done


async def _claim(database: Any, email: Email, now: datetime) -> bool:
    """Record the notice as being sent; False when another worker (or an earlier run) has it."""
    values = {
        "key": email.key,
        "user_id": email.user_id,
        "email": email.to,
        "locale": email.locale,
        "subject": email.subject[:300],
        "status": SENDING,
        "claimed_at": now,
    }
    async with database.session(write=True) as session:
        inserted = (
            await session.execute(
                _insert(session)(Notification)
                .values(**values)
                .on_conflict_do_nothing(index_elements=["key"])
                .returning(col(Notification.id))
            )
        ).first()
        if inserted is None:
            # A claim whose worker died before marking it sent is taken over after the lease.
            taken = await session.execute(
                update(Notification)
                .where(
                    col(Notification.key) == email.key,
                    col(Notification.status) == SENDING,
                    col(Notification.claimed_at) <= now - CLAIM_LEASE,
                )
                .values(claimed_at=now)
                .returning(col(Notification.id))
            )
            inserted = taken.first()
        await session.commit()
    return inserted is not None


async def _settle(database: Any, key: str, now: datetime, *, sent: bool) -> None:
    async with database.session(write=True) as session:
        if sent:
            await session.execute(
                update(Notification).where(col(Notification.key) == key).values(status=SENT, sent_at=now)
            )
        else:
            await session.execute(
                delete(Notification).where(col(Notification.key) == key, col(Notification.status) == SENDING)
            )
        await session.commit()


async def deliver(
    database: Any, settings: Settings, mailer: Mailer, notices: Sequence[Notice], now: datetime
) -> list[Email]:
    """Send each notice not sent before, once; what was sent now. A failed send is logged and left for the
    next run."""
    if not notices:
        return []
    done = await _done_keys(database, [n.key for n in notices], now)
    sent: list[Email] = []
    for notice in notices:
        if notice.key in done:
            continue
        email = render(notice, settings)
        if not await _claim(database, email, now):
            continue
        try:
            await mailer.send(email, now)
        except (OSError, smtplib.SMTPException):
            log.exception("sending %s to %s failed; it is tried again on the next run", email.key, email.to)
            await _settle(database, email.key, now, sent=False)
            continue
        await _settle(database, email.key, now, sent=True)
        sent.append(email)
    return sent
