"""A WRF run: its fields as attributes, and the calls that act on it."""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Union
from urllib.parse import quote

from tqdm.auto import tqdm

from .errors import CloudrunError, NotFoundError
from .transfer import put_region, stream_to_file

if TYPE_CHECKING:
    from .client import Cloudrun

# Every field of the run object, in alphabetical order as the server sends them.
FIELDS = (
    "compute_options",
    "cores",
    "engine",
    "error",
    "id",
    "input_files",
    "model",
    "output_files",
    "output_size",
    "percent_complete",
    "remaining_time",
    "required_input_files",
    "status",
    "time_created",
    "time_started",
    "time_stopped",
)

FINISHED_STATUSES = ("done", "stopped", "error")

# The server parses namelist.input before accepting it, so it only takes it as a multipart upload.
NAMELIST = "namelist.input"


class Run:
    """One WRF run. Each field of the run object is an attribute (``run.status``,
    ``run.compute_options``...); ``run.data`` is the whole object as the server sent it.
    Calls that change the run update these attributes from the server's response.
    """

    def __init__(self, client: "Cloudrun", data: Dict[str, Any]):
        self._client = client
        self._apply(data)

    def _apply(self, data: Dict[str, Any]) -> None:
        self.data = data
        for name in FIELDS:
            setattr(self, name, data.get(name))

    def __repr__(self) -> str:
        return f"Run(id={self.id!r}, status={self.status!r})"

    @property
    def _path(self) -> str:
        return f"/wrf/{self.id}"

    def refresh(self) -> "Run":
        """Reload the run's fields from the server."""
        self._apply(self._client.request_json("GET", self._path))
        return self

    def upload(
        self,
        file: Union[str, os.PathLike, None] = None,
        *,
        url: Optional[str] = None,
        filename: Optional[str] = None,
        wait: bool = True,
        poll: float = 2.0,
        progress: bool = True,
    ) -> str:
        """Upload an input file from a local path (``file``) or a remote ``url``, and return its fileid.

        ``filename`` is the input's name in the run. It defaults to the local
        file's name, or to the last part of the URL. Local files above the client's
        ``presigned_threshold`` go through a presigned URL with a progress bar,
        except namelist.input. A ``url`` upload runs on the server; with
        ``wait`` the call polls every ``poll`` seconds until the transfer is
        complete and raises CloudrunError if it failed. The run's fields are
        refreshed afterwards, so a new namelist's compute_options are there.
        """
        if (file is None) == (url is None):
            raise CloudrunError("upload() takes exactly one of file=PATH or url=URL")
        if url is not None:
            fileid = self._upload_url(url, filename)
            if wait:
                self._wait_for_transfer(fileid, url, poll)
        else:
            fileid = self._upload_file(os.fspath(file), filename, progress)
        self.refresh()
        return fileid

    def _upload_file(self, path: str, filename: Optional[str], progress: bool) -> str:
        name = filename or os.path.basename(path)
        size = os.path.getsize(path)
        if size > self._client.presigned_threshold and name != NAMELIST:
            return self._upload_presigned(path, name, size, progress)
        with open(path, "rb") as body:
            result = self._client.request_json("POST", f"{self._path}/upload", files={"file": (name, body)})
        return result["fileid"]

    def _upload_presigned(self, path: str, name: str, size: int, progress: bool) -> str:
        client = self._client
        grant = client.request_json("POST", f"{self._path}/upload", json={"filename": name, "size": size})
        headers = grant.get("headers") or {}
        with tqdm(
            total=size, unit="B", unit_scale=True, unit_divisor=1024, desc=f"upload {name}", disable=not progress
        ) as bar:
            if grant.get("upload_url"):
                put_region(client.session, grant["upload_url"], headers, path, 0, size, bar, client.timeout)
                completion = None
            else:
                completion = {"parts": self._put_parts(grant["parts"], headers, path, size, bar)}
        try:
            result = client.request_json("POST", grant["complete_url"], json=completion)
        except NotFoundError:
            # On the hosted service an S3 event may complete a single-PUT upload before this call does.
            self.refresh()
            if not any(f["fileid"] == grant["fileid"] for f in self.input_files):
                raise
            return grant["fileid"]
        return result["fileid"]

    def _put_parts(self, parts: List[Dict[str, Any]], headers: Dict[str, str], path: str, size: int, bar: tqdm):
        client = self._client
        completed = []
        offset = 0
        for part in sorted(parts, key=lambda p: p["part_number"]):
            etag = put_region(client.session, part["url"], headers, path, offset, part["size"], bar, client.timeout)
            completed.append({"part_number": part["part_number"], "etag": etag})
            offset += part["size"]
        if offset != size:
            raise CloudrunError(f"the server's upload parts cover {offset} bytes, but {path} has {size}")
        return completed

    def _upload_url(self, url: str, filename: Optional[str]) -> str:
        fields = {"url": url}
        if filename is not None:
            fields["filename"] = filename
        return self._client.request_json("POST", f"{self._path}/upload_url", data=fields)["fileid"]

    def _wait_for_transfer(self, fileid: str, url: str, poll: float) -> None:
        while True:
            self.refresh()
            entry = next((f for f in self.input_files if f["fileid"] == fileid), None)
            if entry is None:
                raise CloudrunError(f"the transfer from {url} was replaced by a newer upload of the same file name")
            if entry["state"] == "complete":
                return
            if entry["state"] == "failed":
                raise CloudrunError(f"the transfer from {url} failed: {entry.get('error') or 'no reason given'}")
            time.sleep(poll)

    def start(self, cores: int) -> "Run":
        """Start the run on ``cores`` cores, which must be one of ``compute_options[].cores``."""
        self._apply(self._client.request_json("POST", f"{self._path}/start", data={"cores": cores}))
        return self

    def stop(self) -> "Run":
        """Stop a starting or active run. Raises ConflictError for a run in any other status."""
        self._apply(self._client.request_json("POST", f"{self._path}/stop"))
        return self

    def delete(self) -> "Run":
        """Delete the run's output files and keep its metadata. Raises ConflictError while the run is starting or active."""
        self._apply(self._client.request_json("DELETE", self._path))
        return self

    def wait(self, poll: float = 5.0, progress: bool = True, timeout: Optional[float] = None) -> "Run":
        """Poll every ``poll`` seconds until the run is done, stopped or error, and return it.

        With ``progress``, a tqdm bar follows ``percent_complete``. A run that
        ends in ``error`` is returned too; check ``run.status`` and ``run.error``.
        Raises TimeoutError after ``timeout`` seconds, and CloudrunError for a
        run that was never started.
        """
        if self.status in ("created", "ready"):
            raise CloudrunError(
                f"cannot wait for run {self.id} because it is {self.status} and was never started. Start it first."
            )
        deadline = None if timeout is None else time.monotonic() + timeout
        bar_format = "{desc}: {percentage:5.1f}%|{bar}| [{elapsed}{postfix}]"
        with tqdm(total=100, desc=f"run {self.id[:8]}", bar_format=bar_format, disable=not progress) as bar:
            while True:
                bar.n = self.percent_complete or 0
                bar.set_postfix(status=self.status, remaining_s=self.remaining_time)
                if self.status in FINISHED_STATUSES:
                    return self
                if deadline is not None and time.monotonic() > deadline:
                    raise TimeoutError(f"run {self.id} is still {self.status} after {timeout} s")
                time.sleep(poll)
                self.refresh()

    def download(self, filename: str, dest: Union[str, os.PathLike] = ".", progress: bool = True) -> str:
        """Stream one output file to disk and return its path.

        ``dest`` is a directory (the file keeps its name) or a file path.
        """
        dest = os.fspath(dest)
        target = os.path.join(dest, filename) if os.path.isdir(dest) else dest
        response = self._client.request("GET", f"{self._path}/output/{quote(filename, safe='')}", stream=True)
        with response:
            return stream_to_file(response, target, filename, progress)

    def download_outputs(self, dest_dir: Union[str, os.PathLike] = ".", progress: bool = True) -> List[str]:
        """Download every file in ``output_files`` into ``dest_dir`` (created if missing) and return their paths."""
        dest_dir = os.fspath(dest_dir)
        os.makedirs(dest_dir, exist_ok=True)
        self.refresh()
        return [self.download(f["filename"], dest_dir, progress) for f in self.output_files]
