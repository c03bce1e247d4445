"""Exceptions raised by the cloudrun client."""

from __future__ import annotations

from typing import Optional

import requests


class CloudrunError(Exception):
    """A failed cloudrun request, or a call the client cannot make.

    ``status`` is the HTTP status code of the response, or ``None`` when no
    response arrived (network failure, time-out) or the client rejected the
    call before sending it. ``message`` is the server's error message.
    """

    def __init__(self, message: str, status: Optional[int] = None):
        super().__init__(message if status is None else f"HTTP {status}: {message}")
        self.status = status
        self.message = message


class BadRequestError(CloudrunError):
    """HTTP 400: the server rejected a value (a field, a file name, a namelist)."""


class AuthenticationError(CloudrunError):
    """HTTP 401: the token is missing, invalid or revoked, or a signed URL is invalid."""


class NotFoundError(CloudrunError):
    """HTTP 404: no such run (or another user's run), output file or endpoint."""


class ConflictError(CloudrunError):
    """HTTP 409: the run's status does not allow the request, e.g. starting a run twice."""


class PayloadTooLargeError(CloudrunError):
    """HTTP 413: a file or request body is above the server's limit."""


_ERRORS_BY_STATUS = {
    400: BadRequestError,
    401: AuthenticationError,
    404: NotFoundError,
    409: ConflictError,
    413: PayloadTooLargeError,
}


def error_from_response(response: requests.Response) -> CloudrunError:
    """Build the exception for an error response.

    cloudrun's error body is ``{"error": {"status": ..., "message": ...}}``.
    Other bodies (for example an XML error from object storage) are quoted
    as the message, cut to 500 characters.
    """
    message = None
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        message = body["error"].get("message")
    if not message:
        text = response.text.strip()
        message = text[:500] if text else (response.reason or "no error message in the response")
    error_class = _ERRORS_BY_STATUS.get(response.status_code, CloudrunError)
    return error_class(message, status=response.status_code)
