"""SCRAM-SHA-256 verifiers as PostgreSQL stores them (RFC 5802/7677).

Comparing a password against the stored verifier (same salt, same iteration
count) tells whether a role's password must change, without ever sending the
password; a change is sent as a new verifier, so the plaintext never leaves
the control machine.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import unicodedata

DEFAULT_ITERATIONS = 4096  # PostgreSQL's scram_iterations default


def _normalize(password: str) -> bytes:
    # PostgreSQL applies SASLprep and falls back to the raw bytes when that
    # fails; NFKC is SASLprep's normalization step, exact for ASCII passwords.
    if password.isascii():
        return password.encode()
    return unicodedata.normalize("NFKC", password).encode()


def _keys(password: str, salt: bytes, iterations: int) -> tuple[bytes, bytes]:
    salted = hashlib.pbkdf2_hmac("sha256", _normalize(password), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    return stored_key, server_key


def make_verifier(password: str, salt: bytes | None = None, iterations: int = DEFAULT_ITERATIONS) -> str:
    salt = os.urandom(16) if salt is None else salt
    stored_key, server_key = _keys(password, salt, iterations)
    b64 = lambda b: base64.b64encode(b).decode()  # noqa: E731
    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


def verifier_matches(verifier: str | None, password: str) -> bool:
    """True when `verifier` (pg_authid.rolpassword) was made from `password`."""
    if not verifier or not verifier.startswith("SCRAM-SHA-256$"):
        return False
    try:
        _, rest = verifier.split("$", 1)
        params, keys = rest.split("$", 1)
        iterations_s, salt_b64 = params.split(":", 1)
        stored_b64, server_b64 = keys.split(":", 1)
        stored_key, server_key = _keys(password, base64.b64decode(salt_b64), int(iterations_s))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(stored_key, base64.b64decode(stored_b64)) and hmac.compare_digest(
        server_key, base64.b64decode(server_b64)
    )
