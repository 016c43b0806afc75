"""WeChat Official Account signatures and "safe mode" AES, per the platform's spec.

URL/plain signature = sha1 of the sorted, joined [token, timestamp, nonce]; safe-mode
msg_signature adds the Encrypt field. AES-256-CBC, key = base64(EncodingAESKey + "="),
IV = first 16 key bytes, PKCS#7 padded to 32; plaintext = random16 + big-endian
length + xml + AppId.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import struct

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from backbone.errors import ValidationError

BLOCK = 32


def signature(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode(), usedforsecurity=False).hexdigest()


def check(expected: str | None, *parts: str) -> None:
    if not expected or not hmac.compare_digest(signature(*parts).encode(),
                                               expected.lower().encode()):
        raise ValidationError("signature does not match", code="bad_signature",
                              field="signature")


class WeChatCipher:
    """Encrypts and decrypts message bodies for one Official Account."""

    def __init__(self, encoding_aes_key: str, app_id: str):
        try:
            self.key = base64.b64decode(encoding_aes_key + "=")
        except binascii.Error as exc:
            raise ValueError("EncodingAESKey is not base64") from exc
        if len(self.key) != 32:
            raise ValueError("EncodingAESKey must decode to 32 bytes (43 characters)")
        self.app_id = app_id

    def _cipher(self) -> Cipher[modes.CBC]:
        return Cipher(algorithms.AES(self.key), modes.CBC(self.key[:16]))

    def decrypt(self, encrypted: str) -> bytes:
        try:
            data = base64.b64decode(encrypted, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValidationError("Encrypt is not base64", code="bad_encryption",
                                  field="Encrypt") from exc
        if not data or len(data) % 16:
            raise ValidationError("Encrypt has a bad length", code="bad_encryption",
                                  field="Encrypt")
        decryptor = self._cipher().decryptor()
        plain = decryptor.update(data) + decryptor.finalize()
        pad = plain[-1]
        if not 1 <= pad <= BLOCK or len(plain) < 20 + pad:
            raise ValidationError("bad padding", code="bad_encryption", field="Encrypt")
        content = plain[16:-pad]
        (length,) = struct.unpack(">I", content[:4])
        xml, app_id = content[4:4 + length], content[4 + length:]
        if len(xml) != length or app_id.decode(errors="replace") != self.app_id:
            raise ValidationError("message is not for this AppId", code="bad_encryption",
                                  field="Encrypt")
        return xml

    def encrypt(self, xml: bytes) -> str:
        body = os.urandom(16) + struct.pack(">I", len(xml)) + xml + self.app_id.encode()
        pad = BLOCK - len(body) % BLOCK
        body += bytes([pad]) * pad
        encryptor = self._cipher().encryptor()
        return base64.b64encode(encryptor.update(body) + encryptor.finalize()).decode()
