"""The SecretBox contract on its AES-GCM adapter: sealed with the newest key, opened with any
listed key, and nothing else opens."""

import secrets

import pytest

from infrastructure.security.secret_box import AesGcmSecretBox

OLD_KEY, NEW_KEY = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def test_a_sealed_secret_opens_with_its_key_and_hides_its_text() -> None:
    box = AesGcmSecretBox((NEW_KEY,))

    sealed = box.encrypt(SECRET)

    assert SECRET not in sealed
    assert box.encrypt(SECRET) != sealed  # a fresh nonce each time
    opened = box.decrypt(sealed)
    assert (opened.plaintext, opened.stale) == (SECRET, False)
    assert SECRET not in repr(opened)


def test_a_secret_sealed_under_an_old_key_opens_after_a_new_key_is_put_first() -> None:
    sealed = AesGcmSecretBox((OLD_KEY,)).encrypt(SECRET)
    rotated = AesGcmSecretBox((NEW_KEY, OLD_KEY))

    opened = rotated.decrypt(sealed)
    resealed = rotated.encrypt(opened.plaintext)

    assert (opened.plaintext, opened.stale) == (SECRET, True)
    assert AesGcmSecretBox((NEW_KEY,)).decrypt(resealed).plaintext == SECRET
    with pytest.raises(ValueError, match="no key"):
        AesGcmSecretBox((OLD_KEY,)).decrypt(resealed)


def test_a_dropped_key_opens_nothing_any_more() -> None:
    sealed = AesGcmSecretBox((OLD_KEY,)).encrypt(SECRET)

    with pytest.raises(ValueError, match="no key"):
        AesGcmSecretBox((NEW_KEY,)).decrypt(sealed)


@pytest.mark.parametrize("position", [-2, -30, 12])
def test_a_changed_ciphertext_never_opens(position: int) -> None:
    box = AesGcmSecretBox((NEW_KEY,))
    sealed = box.encrypt(SECRET)
    # The last characters are GCM's tag; position 12 is inside the key id.
    changed = sealed[:position] + ("A" if sealed[position] != "A" else "B") + sealed[position + 1 :]

    with pytest.raises(ValueError, match=r"damaged|no key"):
        box.decrypt(changed)


@pytest.mark.parametrize("ciphertext", ["", "v1", "v2.abc.def", "plain text"])
def test_what_it_did_not_seal_is_refused(ciphertext: str) -> None:
    with pytest.raises(ValueError, match=r"damaged|no key"):
        AesGcmSecretBox((NEW_KEY,)).decrypt(ciphertext)
