"""Python client for cloudrun, an HTTP API that runs the WRF weather model."""

from .client import DEFAULT_PRESIGNED_THRESHOLD, DEFAULT_URL, Cloudrun
from .errors import (
    AuthenticationError,
    BadRequestError,
    CloudrunError,
    ConflictError,
    NotFoundError,
    PayloadTooLargeError,
)
from .run import FIELDS, Run

__version__ = "0.1.0"

__all__ = [
    "Cloudrun",
    "Run",
    "FIELDS",
    "DEFAULT_URL",
    "DEFAULT_PRESIGNED_THRESHOLD",
    "CloudrunError",
    "BadRequestError",
    "AuthenticationError",
    "NotFoundError",
    "ConflictError",
    "PayloadTooLargeError",
]
