from dataclasses import replace
from datetime import UTC, datetime, timedelta

from domain.sessions import RefreshVerdict, Session, refresh_token_digest

NOW = datetime(2026, 1, 1, tzinfo=UTC)
GRACE = timedelta(seconds=10)


def make_session(refresh_token: str = "first") -> Session:  # noqa: S107
    return Session.start(
        session_id="s1",
        user_id=1,
        refresh_token=refresh_token,
        now=NOW,
        max_lifetime=timedelta(days=30),
        user_agent=None,
        ip=None,
    )


def test_a_session_keeps_only_the_digest_of_its_refresh_token() -> None:
    session = make_session("first")
    assert session.refresh_token_hash == refresh_token_digest("first")
    assert "first" not in repr(session)


def test_the_current_token_is_accepted_and_rotation_remembers_the_previous_one() -> None:
    session = make_session("first")
    assert session.judge_refresh("first", NOW, GRACE) is RefreshVerdict.CURRENT
    session.rotate(refresh_token_digest("second"), NOW)
    assert session.judge_refresh("second", NOW, GRACE) is RefreshVerdict.CURRENT
    assert session.previous_token_hash == refresh_token_digest("first")


def test_the_previous_token_is_only_recently_rotated_within_the_grace_window() -> None:
    session = make_session("first")
    session.rotate(refresh_token_digest("second"), NOW)
    assert session.judge_refresh("first", NOW + GRACE, GRACE) is RefreshVerdict.RECENTLY_ROTATED
    later = NOW + GRACE + timedelta(seconds=1)
    assert session.judge_refresh("first", later, GRACE) is RefreshVerdict.REUSED


def test_older_tokens_are_reuse_even_inside_the_grace_window() -> None:
    session = make_session("first")
    session.rotate(refresh_token_digest("second"), NOW)
    session.rotate(refresh_token_digest("third"), NOW)
    assert session.judge_refresh("first", NOW, GRACE) is RefreshVerdict.REUSED


def test_a_session_ends_when_revoked_or_past_its_lifetime() -> None:
    session = make_session()
    assert session.is_active(NOW)
    assert not session.is_active(NOW + timedelta(days=30))
    assert not replace(session, revoked_at=NOW).is_active(NOW)


def test_client_details_are_cut_to_fit() -> None:
    session = Session.start(
        session_id="s1",
        user_id=1,
        refresh_token="first",
        now=NOW,
        max_lifetime=timedelta(days=30),
        user_agent="Ü" * 300,
        ip="f" * 60,
    )
    assert (session.user_agent, session.ip) == ("Ü" * 255, "f" * 45)
