"""The vault's error tree.  Every failure the vault means to report is one of these.

::

    VaultError
    ├── ConfigurationError        settings, keyring file, policies: refuse to start
    │   └── KeyringError          missing, placeholder, or exposed key file
    ├── IntegrityError            a ciphertext failed authentication (moved, wrong key, tampered)
    ├── ValidationError           input that breaks a rule; says which field, never the value
    │   └── PurposeRequired       a request for customer data that states no purpose
    ├── NotFoundError             no such record (or not visible to the caller)
    ├── ConflictError             the write collides with existing data
    ├── AccessDenied              the policy refuses this principal, action, purpose or scope
    │   └── OutOfScope            a write resolved to a customer outside the caller's scope
    ├── AuthenticationError       no valid credentials
    └── StorageError              the database did not do what was asked
        ├── AuditUnavailable      the audit event could not be written: fail closed
        └── KeyStoreUnavailable   the HSM holding the KEKs failed to answer

Messages are written for operators and never contain a PII value: callers may
log them and the API returns them as problem details.  The API maps each class
to an HTTP status in one place; the CLI maps them to exit codes in one place.
"""

from __future__ import annotations

import uuid


class VaultError(Exception):
    """Base of every error the vault raises on purpose."""


class ConfigurationError(VaultError):
    """The vault cannot start or run with the configuration it was given."""


class KeyringError(ConfigurationError):
    """The keyring file is missing, malformed, a placeholder, or readable by others."""


class IntegrityError(VaultError):
    """A ciphertext failed authentication.

    Deliberately says nothing about *why* (wrong key, wrong row, wrong field,
    flipped bit): the distinction helps an attacker more than an operator.
    """


class ValidationError(VaultError):
    """Input breaks a rule.  ``field`` names the offending field; the value is never kept."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class PurposeRequired(ValidationError):
    """Customer data is only handed out for a stated purpose."""

    def __init__(self) -> None:
        super().__init__("X-Purpose", "header is required for customer data")


class NotFoundError(VaultError):
    """The record does not exist (or is not visible to the caller)."""


class ConflictError(VaultError):
    """The write collides with data already stored."""


class StorageError(VaultError):
    """The database failed in a way the caller cannot fix by changing the input."""


class AuditUnavailable(StorageError):
    """An audit event could not be durably written, so the access it records must not happen."""


class AccessDenied(VaultError):
    """The policy refuses the request; ``reason`` is recorded in the audit event."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class OutOfScope(AccessDenied):
    """A write would touch a customer outside the caller's scope (found by identity resolution).

    Raised inside the write's transaction, which rolls back; the use case audits
    the denial once the transaction is gone (an audit write inside it would wait
    on its own lock on SQLite).
    """

    def __init__(self, reason: str, customer_id: uuid.UUID) -> None:
        super().__init__(reason)
        self.customer_id = customer_id


class AuthenticationError(VaultError):
    """Missing, unknown or revoked credentials."""


class KeyStoreUnavailable(StorageError):
    """The PKCS#11 token holding the KEKs failed (removed, session lost): retry later."""
