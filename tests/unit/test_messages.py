from datetime import UTC, datetime, timedelta

import pytest

from application.messages import Links, compose, duration, email_changed, password_reset
from domain.users import Email, PasswordHash, User
from tests.mails import has_no_token, token_in

TOKEN = "A" * 40 + "_-0"
WHEN = datetime(2026, 12, 3, 15, 40, tzinfo=UTC)


def user(name: str = "Zoë <script>alert(1)</script> & co") -> User:
    return User(
        id=1,
        name=name,
        email=Email("zoe@example.com"),
        password_hash=PasswordHash("fake$x"),
        created_at=WHEN,
    )


def test_a_link_goes_to_the_page_under_app_url_with_the_token() -> None:
    links = Links(app_url="https://example.com/account")
    message = password_reset(user(), TOKEN, links, timedelta(minutes=30))

    assert "https://example.com/account/reset-password?token=" + TOKEN in message.text.splitlines()
    assert token_in(message) == TOKEN
    assert message.html is not None
    assert 'href="https://example.com/account/reset-password?token=' + TOKEN + '"' in message.html


def test_names_are_escaped_in_html_and_kept_in_text() -> None:
    message = password_reset(user(), TOKEN, Links(app_url="https://a.example"), timedelta(hours=1))

    assert "Hello Zoë <script>alert(1)</script> & co," in message.text
    assert message.html is not None
    assert "<script>" not in message.html
    assert "Zoë &lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in message.html


def test_a_notice_carries_no_token_and_says_when() -> None:
    message = email_changed(user(), Email("old@example.com"), WHEN)

    assert message.to == "old@example.com"
    assert has_no_token(message)
    assert "3 December 2026 at 15:40 UTC" in message.text


def test_compose_makes_any_notice() -> None:
    message = compose(
        to=Email("zoe@example.com"),
        name="Zoë",
        subject="Second factor enabled",
        paragraphs=["A second factor now guards your account."],
    )

    assert message.text == "Hello Zoë,\n\nA second factor now guards your account.\n"
    assert message.html is not None
    assert "<p>A second factor now guards your account.</p>" in message.html


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (timedelta(minutes=30), "30 minutes"),
        (timedelta(hours=1), "1 hour"),
        (timedelta(hours=24), "24 hours"),
        (timedelta(days=7), "7 days"),
        (timedelta(seconds=90), "90 seconds"),
    ],
)
def test_durations_read_as_people_say_them(delta: timedelta, text: str) -> None:
    assert duration(delta) == text
