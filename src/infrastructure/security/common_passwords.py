"""The shipped list of passwords too common to allow (ASVS 6.2.4)."""

from importlib.resources import files


def load_common_passwords() -> frozenset[str]:
    """Lower-cased, so the policy can compare case-insensitively."""
    text = files(__package__).joinpath("common-passwords.txt").read_text(encoding="utf-8")
    return frozenset(
        line.strip().casefold() for line in text.splitlines() if line and not line.startswith("#")
    )
