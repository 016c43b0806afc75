"""WeChat Official Account signatures, "safe mode" AES, and who may call the callback.

URL/plain signature = sha1 of the sorted, joined [token, timestamp, nonce]; safe-mode
msg_signature adds the Encrypt field. AES-256-CBC, key = base64(EncodingAESKey + "="),
IV = first 16 key bytes, PKCS#7 padded to 32; plaintext = random16 + big-endian
length + xml + AppId. :class:`CallbackGuard` applies the account's mode (安全/兼容/明文),
the freshness window and the replay memory to every request.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import struct
from collections.abc import Mapping
from typing import Literal

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from backbone.errors import ConfigurationError, ValidationError
from backbone.settings import Settings
from connectors import clock
from connectors.dedupe import SeenSignatures

BLOCK = 32
Mode = Literal["safe", "compatible", "plaintext"]


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


def resolve_mode(settings: Settings) -> Mode:
    """The configured mode; unset means "safe" with an AES key, else "plaintext"."""
    has_key = bool(settings.wechat_aes_key.get_secret_value())
    mode: Mode = settings.wechat_mode or ("safe" if has_key else "plaintext")
    if mode != "plaintext" and not has_key:
        raise ConfigurationError(f"wechat_mode={mode!r} needs wechat_aes_key (EncodingAESKey)")
    return mode


class CallbackGuard:
    """Decides whether a callback request comes from WeChat, and lets each signature sign once.

    A plaintext push's signature covers only [token, timestamp, nonce], never the body, so
    anyone who saw one signed URL (a plaintext push, a safe-mode push's ``signature``, a URL
    check) could attach any body to it. Hence: plaintext only when the mode allows it, a
    short freshness window, and :class:`SeenSignatures` keyed by that signature: a repeat
    of the same request (a WeChat retry re-sent as it was) passes and is deduplicated by the
    caller; the same signature with another body, or reused across kinds, is refused.
    Encrypted pushes are fingerprinted by kind only: msg_signature already binds Encrypt.
    """

    def __init__(self, settings: Settings, *, replay: SeenSignatures | None = None):
        self.token = settings.wechat_token.get_secret_value()
        self.mode = resolve_mode(settings)
        aes_key = settings.wechat_aes_key.get_secret_value()
        self.cipher = WeChatCipher(aes_key, settings.wechat_app_id) if aes_key else None
        self.window_s = settings.wechat_timestamp_window_s
        self.replay = replay or SeenSignatures(settings.connector_dedupe_cache, self.window_s)

    def url_check(self, query: Mapping[str, str]) -> str:
        """The echostr to answer, once the URL check's signature is verified."""
        timestamp, nonce = self._stamp(query)
        check(query.get("signature"), self.token, timestamp, nonce)
        self._once(timestamp, nonce, "url")
        return query.get("echostr", "")

    def encrypted(self, query: Mapping[str, str]) -> bool:
        """Whether this push is encrypted (safe or compatible mode) and may arrive so."""
        encrypt_type = query.get("encrypt_type") or "raw"
        if encrypt_type not in ("raw", "aes"):
            raise ValidationError(f"unknown encrypt_type {encrypt_type[:20]!r}",
                                  code="bad_encryption", field="encrypt_type")
        if encrypt_type == "raw" and self.mode == "safe":
            raise ValidationError("plaintext pushes are refused: this account is in safe mode "
                                  "(encrypt_type=aes with msg_signature)",
                                  code="plaintext_not_allowed", field="encrypt_type")
        if encrypt_type == "aes" and self.mode == "plaintext":
            raise ValidationError("encrypted push, but wechat_mode is plaintext",
                                  code="bad_encryption", field="encrypt_type")
        return encrypt_type == "aes"

    def open_encrypted(self, query: Mapping[str, str], encrypted: str) -> bytes:
        """The decrypted XML of a safe- or compatible-mode push (any plaintext copy ignored)."""
        timestamp, nonce = self._stamp(query)
        check(query.get("msg_signature"), self.token, timestamp, nonce, encrypted)
        if self.cipher is None:  # not reached: encrypted() refuses aes in plaintext mode
            raise ValidationError("safe mode is not configured", code="bad_encryption")
        self._once(timestamp, nonce, "aes")
        return self.cipher.decrypt(encrypted)

    def open_plain(self, query: Mapping[str, str], raw: bytes) -> bytes:
        timestamp, nonce = self._stamp(query)
        check(query.get("signature"), self.token, timestamp, nonce)
        self._once(timestamp, nonce, "raw:" + hashlib.sha256(raw).hexdigest())
        return raw

    def _stamp(self, query: Mapping[str, str]) -> tuple[str, str]:
        timestamp, nonce = query.get("timestamp", ""), query.get("nonce", "")
        # Canonical digits only: "0" + timestamp would sign like another (timestamp, nonce).
        if not (timestamp.isascii() and timestamp.isdigit()) or timestamp != str(int(timestamp)):
            raise ValidationError("timestamp must be epoch seconds", code="bad_timestamp",
                                  field="timestamp")
        if not nonce:
            raise ValidationError("nonce is required", code="missing_field", field="nonce")
        return timestamp, nonce

    def _once(self, timestamp: str, nonce: str, fingerprint: str) -> None:
        """Called only after the signature verified: nobody else can fill the memory."""
        seconds = int(timestamp)
        clock.check_window(seconds * 1000, "timestamp", max_age_s=self.window_s,
                           max_skew_s=self.window_s)
        # Keyed by the signature itself, so every (timestamp, nonce) split of the same
        # signed string is one key.
        sighting = self.replay.see(signature(self.token, timestamp, nonce), seconds, fingerprint)
        if sighting == "conflict":
            raise ValidationError("this signature was already used for another request",
                                  code="replayed_request", field="signature")
        if sighting == "forgotten":
            raise ValidationError("too many pushes to vouch for one this old; the replay "
                                  "memory (connector_dedupe_cache) is full",
                                  code="replay_cache_full", field="timestamp")
