"""The API client: authentication, requests and errors, and the run collection."""

from __future__ import annotations

import os
from typing import Any, List, Optional

import requests
from urllib.parse import quote

from .errors import CloudrunError, error_from_response
from .run import Run

DEFAULT_URL = "https://api.cloudrun.co/v1"

# Files above this size go through a presigned upload URL instead of a multipart POST.
# The hosted service rejects direct upload bodies above 4 MiB (Lambda takes at most
# 6 MB and API Gateway base64-encodes the body), so the default leaves a margin.
DEFAULT_PRESIGNED_THRESHOLD = 3 * 1024 * 1024


class Cloudrun:
    """A connection to a cloudrun server for one API token.

    ``url`` is the API root including the version, e.g. ``http://127.0.0.1:8080/v1``.
    Without arguments the token comes from ``CLOUDRUN_API_TOKEN`` and the URL from
    ``CLOUDRUN_API_URL`` (default ``https://api.cloudrun.co/v1``).
    ``presigned_threshold`` is the file size in bytes above which uploads use a
    presigned URL; ``timeout`` is the connect and read time-out of each request
    in seconds.
    """

    def __init__(
        self,
        token: Optional[str] = None,
        url: Optional[str] = None,
        *,
        presigned_threshold: int = DEFAULT_PRESIGNED_THRESHOLD,
        timeout: float = 60.0,
    ):
        token = token or os.environ.get("CLOUDRUN_API_TOKEN")
        if not token:
            raise CloudrunError(
                "missing API token: pass Cloudrun(token=...) or set the CLOUDRUN_API_TOKEN environment variable"
            )
        self.token = token
        self.url = (url or os.environ.get("CLOUDRUN_API_URL") or DEFAULT_URL).rstrip("/")
        self.presigned_threshold = presigned_threshold
        self.timeout = timeout
        self.session = requests.Session()

    def __repr__(self) -> str:
        return f"Cloudrun(url={self.url!r})"

    def request(self, method: str, path_or_url: str, **kwargs: Any) -> requests.Response:
        """Send an authenticated request and return the response, raising CloudrunError for an error status.

        ``path_or_url`` is a path below the API root (``/wrf``) or an absolute URL
        that the server handed out (a completion URL).
        """
        url = path_or_url if "://" in path_or_url else self.url + path_or_url
        headers = dict(kwargs.pop("headers", None) or {})
        headers["Authorization"] = f"Bearer {self.token}"
        kwargs.setdefault("timeout", self.timeout)
        try:
            response = self.session.request(method, url, headers=headers, **kwargs)
        except requests.RequestException as error:
            raise CloudrunError(f"{method} {url} failed: {error}") from error
        if not response.ok:
            error = error_from_response(response)
            response.close()
            raise error
        return response

    def request_json(self, method: str, path_or_url: str, **kwargs: Any) -> Any:
        """Send an authenticated request and return its decoded JSON body."""
        response = self.request(method, path_or_url, **kwargs)
        try:
            return response.json()
        except ValueError as error:
            raise CloudrunError(
                f"{method} {path_or_url} returned a body that is not JSON", status=response.status_code
            ) from error

    def get_all_runs(self) -> List[Run]:
        """Return the caller's runs, newest first."""
        return [Run(self, data) for data in self.request_json("GET", "/wrf")]

    def get_run(self, id: str) -> Run:
        """Return the run with this id. Raises NotFoundError if it does not exist or belongs to another user."""
        return Run(self, self.request_json("GET", f"/wrf/{quote(str(id), safe='')}"))

    def create_run(self, model: str = "wrf", version: Optional[str] = None) -> Run:
        """Create a run. Without ``version`` the server's default WRF version is used."""
        fields = {"model": model}
        if version is not None:
            fields["version"] = version
        return Run(self, self.request_json("POST", "/wrf", data=fields))
