"""Deskpilot's errors. Each carries a message a person can act on.

DeskpilotError                 base; ``user_message`` is safe to show in the UI/CLI
├── InputError                 the caller's input is wrong (empty, too long, not text)
├── IngestError                one knowledge-base file could not be read or parsed
├── BackendUnavailable         a service is down (Redis, Chroma server, LLM endpoint)
│   ├── LLMError               the LLM failed, timed out or answered nonsense
│   └── StorageError           the ticket database refused a write
│       ├── StorageFull        the disk (or the database's quota) is full
│       └── StorageBusy        the database stayed locked past the timeout
├── ConcurrentUpdate           a ticket changed since it was read (compare-and-set lost)
├── NotFound                   a ticket, handoff or article id does not exist
├── InvalidTransition          the lifecycle refuses a status change
├── AlreadyClaimed             another agent claimed the handoff first
└── AccessDenied               the caller's role does not allow the action
    ├── SignInRequired         nobody signed in, session expired, unknown or disabled user
    └── SignInThrottled        too many failed sign-ins; wait ``retry_after`` seconds
"""

from __future__ import annotations


class DeskpilotError(Exception):
    """Base error; ``str(err)`` is the user-facing message."""

    def __init__(self, user_message: str) -> None:
        super().__init__(user_message)
        self.user_message = user_message


class InputError(DeskpilotError):
    pass


class IngestError(DeskpilotError):
    def __init__(self, source: str, problem: str) -> None:
        super().__init__(f"{source}: {problem}")
        self.source = source
        self.problem = problem


class BackendUnavailable(DeskpilotError):
    pass


class LLMError(BackendUnavailable):
    pass


class StorageError(BackendUnavailable):
    pass


class StorageFull(StorageError):
    def __init__(self, where: str) -> None:
        super().__init__(f"The ticket database is full ({where}); free disk space and retry.")


class StorageBusy(StorageError):
    def __init__(self, where: str, seconds: float) -> None:
        super().__init__(
            f"The ticket database ({where}) stayed locked for {seconds:g} s; retry in a moment."
        )


class ConcurrentUpdate(DeskpilotError):
    def __init__(self, ticket_id: str) -> None:
        super().__init__(f"Ticket {ticket_id} was changed by someone else; reload and retry.")
        self.ticket_id = ticket_id


class NotFound(DeskpilotError):
    pass


class InvalidTransition(DeskpilotError):
    def __init__(self, from_status: str, to_status: str) -> None:
        super().__init__(f"A ticket cannot go from '{from_status}' to '{to_status}'.")
        self.from_status = from_status
        self.to_status = to_status


class AlreadyClaimed(DeskpilotError):
    def __init__(self, handoff_id: str, claimed_by: str) -> None:
        super().__init__(f"Ticket {handoff_id} was already claimed by {claimed_by}.")
        self.handoff_id = handoff_id
        self.claimed_by = claimed_by


class AccessDenied(DeskpilotError):
    """The caller is signed in (or named) but their role does not allow the action."""


class SignInRequired(AccessDenied):
    """Nobody is signed in, the session expired, or the user is unknown or disabled."""


class SignInThrottled(AccessDenied):
    """Too many failed sign-ins for this name; ``retry_after`` seconds until the next try."""

    def __init__(self, user_message: str, retry_after: float) -> None:
        super().__init__(user_message)
        self.retry_after = retry_after
