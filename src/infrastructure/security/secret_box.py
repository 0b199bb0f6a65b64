"""Data at rest sealed with AES-256-GCM under a list of keys, newest first (key rotation)."""

import base64
import hashlib
import os
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from application.ports import Decrypted, SecretBox

_VERSION: Final = "v1"
_NONCE_BYTES: Final = 12


def _unpadded_b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class AesGcmSecretBox(SecretBox):
    """- a ciphertext is `v1.<key id>.<nonce and sealed text>`, base64url; the key id (the
      first bytes of the key's SHA-256) names the key that sealed it, so opening tries no
      other and tells when that key is no longer the newest;
    - a random 96-bit nonce per message (NIST SP 800-38D; far below 2^32 messages per key);
    - GCM's tag makes any change to a ciphertext fail to open, never open to other text."""

    def __init__(self, keys: tuple[str, ...]) -> None:
        if not keys:
            raise ValueError("at least one key is needed")
        self._keys = {self._key_id(raw): AESGCM(raw) for raw in map(_unpadded_b64decode, keys)}
        self._newest_id = self._key_id(_unpadded_b64decode(keys[0]))

    @staticmethod
    def _key_id(raw: bytes) -> str:
        return _b64encode(hashlib.sha256(raw).digest()[:6])

    def encrypt(self, plaintext: str) -> str:
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._keys[self._newest_id].encrypt(nonce, plaintext.encode(), _VERSION.encode())
        return f"{_VERSION}.{self._newest_id}.{_b64encode(nonce + sealed)}"

    def decrypt(self, ciphertext: str) -> Decrypted:
        version, _, rest = ciphertext.partition(".")
        key_id, _, body = rest.partition(".")
        key = self._keys.get(key_id)
        if version != _VERSION or key is None:
            raise ValueError("sealed under no key of DATA_ENCRYPTION_KEY")
        try:
            data = _unpadded_b64decode(body)
            plaintext = key.decrypt(data[:_NONCE_BYTES], data[_NONCE_BYTES:], version.encode())
        except (InvalidTag, ValueError) as error:
            raise ValueError("damaged ciphertext") from error
        return Decrypted(plaintext=plaintext.decode(), stale=key_id != self._newest_id)
