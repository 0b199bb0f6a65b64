"""The mail the service sends: plain text with an HTML rendering of the same words.

A message that carries a token gives it twice: as a link to the front end's page
(`{APP_URL}/<page>?token=<token>`), and alone on a line, for API clients and for anyone whose
mail client breaks the link. Notices carry no token. Subjects are fixed texts: nothing a user
typed reaches a header."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from html import escape

from application.ports import EmailMessage
from domain.users import Email, User

RESET_PASSWORD_PAGE = "reset-password"
VERIFY_EMAIL_PAGE = "verify-email"
CONFIRM_EMAIL_CHANGE_PAGE = "confirm-email-change"


UNITS = (("day", 86400), ("hour", 3600), ("minute", 60))


@dataclass(frozen=True, slots=True, kw_only=True)
class Links:
    """Where mailed links point: pages of the front end at `app_url`, which read the token from
    the query and POST it (a mail scanner that follows a link consumes nothing)."""

    app_url: str
    """Without a trailing slash."""

    def page(self, page: str, token: str) -> str:
        return f"{self.app_url}/{page}?token={token}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Action:
    """The one thing a message asks its reader to do: open a link that carries a token."""

    url: str
    label: str
    token: str


def compose(
    *,
    to: Email,
    name: str,
    subject: str,
    paragraphs: Sequence[str],
    action: Action | None = None,
    closing: Sequence[str] = (),
) -> EmailMessage:
    """A message to `name` at `to`: a greeting, `paragraphs`, the action's link and its token
    on a line of their own, then `closing`. Every text is escaped in the HTML part."""
    text = [f"Hello {name},", *paragraphs]
    html = [f"<p>Hello {escape(name)},</p>", *(f"<p>{escape(part)}</p>" for part in paragraphs)]
    if action is not None:
        text += [
            action.url,
            "If the link does not open, copy this code where the page asks for it:",
            action.token,
        ]
        html += [
            f'<p><a href="{escape(action.url)}">{escape(action.label)}</a></p>',
            "<p>If the link does not open, copy this code where the page asks for it:</p>",
            f"<p><code>{escape(action.token)}</code></p>",
        ]
    text += closing
    html += [f"<p>{escape(part)}</p>" for part in closing]
    return EmailMessage(
        to=to.value,
        subject=subject,
        text="\n\n".join(text) + "\n",
        html="<!DOCTYPE html>\n<html><body>\n" + "\n".join(html) + "\n</body></html>\n",
    )


def password_reset(user: User, token: str, links: Links, ttl: timedelta) -> EmailMessage:
    return compose(
        to=user.email,
        name=user.name,
        subject="Reset your password",
        paragraphs=[
            "We received a request to reset the password of your account. To choose a new"
            f" password, open this link within {duration(ttl)}:"
        ],
        action=Action(
            url=links.page(RESET_PASSWORD_PAGE, token), label="Choose a new password", token=token
        ),
        closing=[
            "If you did not ask for this, you can ignore this message: your password stays"
            " as it is. The link works once."
        ],
    )


def email_verification(user: User, token: str, links: Links, ttl: timedelta) -> EmailMessage:
    return compose(
        to=user.email,
        name=user.name,
        subject="Confirm your email address",
        paragraphs=[
            f"Please confirm that {user.email.value} is your email address by opening this link"
            f" within {duration(ttl)}:"
        ],
        action=Action(
            url=links.page(VERIFY_EMAIL_PAGE, token), label="Confirm my address", token=token
        ),
        closing=["If you did not create an account with us, you can ignore this message."],
    )


def email_change(
    user: User, new_email: Email, token: str, links: Links, ttl: timedelta
) -> EmailMessage:
    """Sent to the new address, which must show it can read mail before it becomes the
    account's."""
    return compose(
        to=new_email,
        name=user.name,
        subject="Confirm your new email address",
        paragraphs=[
            f"You asked to change the email address of your account to {new_email.value}. To"
            f" confirm, open this link within {duration(ttl)}:"
        ],
        action=Action(
            url=links.page(CONFIRM_EMAIL_CHANGE_PAGE, token),
            label="Confirm my new address",
            token=token,
        ),
        closing=[
            "Until you confirm, your account keeps its current address. Confirming signs you"
            " out everywhere. If you did not ask for this, you can ignore this message."
        ],
    )


def password_changed(user: User, now: datetime) -> EmailMessage:
    return compose(
        to=user.email,
        name=user.name,
        subject="Your password was changed",
        paragraphs=[
            f"The password of your account was changed on {moment(now)}.",
            "If this was you, there is nothing more to do.",
            "If it was not, someone else may be using your account: reset your password at once"
            " with \u201cForgot password\u201d on the sign-in page.",
        ],
    )


def email_changed(user: User, old_email: Email, now: datetime) -> EmailMessage:
    """Sent to the old address, the one place its owner still reads if the change was not
    theirs."""
    return compose(
        to=old_email,
        name=user.name,
        subject="Your email address was changed",
        paragraphs=[
            f"The email address of your account was changed from {old_email.value} to"
            f" {user.email.value} on {moment(now)}, and every device was signed out.",
            "If this was you, there is nothing more to do.",
            "If it was not, someone else controls your account: contact our support at once,"
            " and do not reply to this message.",
        ],
    )


def second_factor_changed(user: User, *, enabled: bool, now: datetime) -> EmailMessage:
    """Sent when two-step verification is turned on or off (by the user or a support desk), so
    that a change the owner did not make does not go unnoticed."""
    state = "on" if enabled else "off"
    return compose(
        to=user.email,
        name=user.name,
        subject=f"Two-step verification turned {state}",
        paragraphs=[
            f"Two-step verification was turned {state} for your account on {moment(now)}.",
            "If this was you, there is nothing more to do.",
            "If it was not, someone else may be using your account: change your password at"
            " once and contact our support.",
        ],
    )


def duration(delta: timedelta) -> str:
    """`30 minutes`, `1 hour`, `24 hours`, `7 days`: the largest unit that divides it exactly
    (a single day reads as 24 hours, as people say of a deadline)."""
    seconds = int(delta.total_seconds())
    for unit, size in UNITS:
        if seconds >= size and seconds % size == 0 and (unit, seconds) != ("day", 86400):
            count = seconds // size
            return f"{count} {unit}{'' if count == 1 else 's'}"
    return f"{seconds} seconds"


def moment(when: datetime) -> str:
    """`3 December 2026 at 15:40 UTC`: readable wherever the reader lives."""
    return f"{when.day} {when:%B %Y} at {when:%H:%M} UTC"
