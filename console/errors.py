"""Typed errors of the core, written down as one tree (httpx's habit).

ConsoleError                    base of every error the app reports to a person
├── StorageError                the workspace could not be used
│   ├── NotAWorkspaceError      the file is not an Agent Console workspace
│   └── NewerSchemaError        the workspace was written by a newer version
├── ImportFormatError           a file could not be read as the format asked for
├── NotFoundError               a customer, message, conversation... does not exist
├── TemplateError               a template failed to parse or render (typo, unknown variable, sandbox)
├── SecretStoreError            no usable keyring, or it refused
├── AccountError                a channel account's values are invalid (unknown kind, bad setting...)
│   └── AccountInUseError       the account still has conversations: removing it needs ``force``
└── ChannelError                a channel adapter failed (see ``services.channels.errors``)
    ├── AuthenticationError     credentials rejected: never retried
    ├── RateLimitedError        throttled; ``retry_after`` seconds to wait
    ├── RejectedError           the channel refused the request: never retried
    ├── TransientError          network or 5xx: retried with backoff
    └── UnknownOutcomeError     the request may or may not have been processed: reconcile first
"""

from __future__ import annotations


class ConsoleError(Exception):
    """Base of every error reported to a person."""


class StorageError(ConsoleError):
    """The workspace could not be opened, read or written."""


class NotAWorkspaceError(StorageError):
    """The file exists but is not an Agent Console workspace."""


class NewerSchemaError(StorageError):
    """The workspace's schema is newer than this version understands."""


class ImportFormatError(ConsoleError):
    """A file could not be read in the format asked for."""


class NotFoundError(ConsoleError):
    """The requested object does not exist in the workspace."""


class TemplateError(ConsoleError):
    """A template failed to parse or render."""


class SecretStoreError(ConsoleError):
    """No usable secret store, or it refused an operation."""


class AccountError(ConsoleError):
    """A channel account could not be saved as given: the text says which value and why."""


class AccountInUseError(AccountError):
    """The account still has conversations; removing it needs ``force``."""


class ChannelError(ConsoleError):
    """A channel adapter failed."""

    #: The channel's own error code when it gave one ("190", "131047", "10/2018278").
    code: str | None = None


class AuthenticationError(ChannelError):
    """The channel rejected our credentials. Never retried."""


class RateLimitedError(ChannelError):
    """The channel throttled us; wait ``retry_after`` seconds."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RejectedError(ChannelError):
    """The channel refused the request (validation, policy, window). Never retried."""


class TransientError(ChannelError):
    """A network failure or server error where nothing was processed. Retried with backoff."""


class UnknownOutcomeError(ChannelError):
    """The request left but no answer came back: it may have been processed. Reconcile first."""
