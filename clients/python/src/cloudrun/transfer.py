"""File transfers with progress bars: presigned uploads and streamed downloads."""

from __future__ import annotations

import os
from typing import Iterator, Optional

import requests
from tqdm.auto import tqdm

from .errors import CloudrunError, error_from_response

CHUNK_BYTES = 1024 * 1024


class FileRegion:
    """``size`` bytes of a file from ``offset``, read as a request body that advances a progress bar.

    It has a length, so ``requests`` sends a Content-Length header instead of a
    chunked body, which presigned object-storage URLs reject.
    """

    def __init__(self, path: str, offset: int, size: int, bar: tqdm):
        self._file = open(path, "rb")
        self._file.seek(offset)
        self._size = size
        self._remaining = size
        self._bar = bar

    def __len__(self) -> int:
        return self._size

    def read(self, amount: Optional[int] = -1) -> bytes:
        if self._remaining <= 0:
            return b""
        if amount is None or amount < 0 or amount > self._remaining:
            amount = self._remaining
        chunk = self._file.read(amount)
        if not chunk:
            raise CloudrunError(f"{self._file.name} became shorter while it was being uploaded")
        self._remaining -= len(chunk)
        self._bar.update(len(chunk))
        return chunk

    def __iter__(self) -> Iterator[bytes]:
        while True:
            chunk = self.read(CHUNK_BYTES)
            if not chunk:
                return
            yield chunk

    def close(self) -> None:
        self._file.close()


def put_region(
    session: requests.Session,
    url: str,
    headers: dict,
    path: str,
    offset: int,
    size: int,
    bar: tqdm,
    timeout: float,
) -> str:
    """PUT one region of a file to a presigned URL and return the response's ETag."""
    region = FileRegion(path, offset, size, bar)
    try:
        response = session.put(url, data=region, headers=headers, timeout=timeout)
    except requests.RequestException as error:
        raise CloudrunError(f"upload of {path} to the presigned URL failed: {error}") from error
    finally:
        region.close()
    if not response.ok:
        raise error_from_response(response)
    return response.headers.get("ETag", "")


def stream_to_file(response: requests.Response, target: str, label: str, progress: bool) -> str:
    """Write a streamed response body to ``target`` through a temporary file, so a partial file never has the final name."""
    total = int(response.headers.get("Content-Length", 0)) or None
    temporary = f"{target}.part"
    try:
        with open(temporary, "wb") as file, tqdm(
            total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=label, disable=not progress, leave=False
        ) as bar:
            for chunk in response.iter_content(CHUNK_BYTES):
                file.write(chunk)
                bar.update(len(chunk))
    except requests.RequestException as error:
        _remove_quietly(temporary)
        raise CloudrunError(f"download of {label} failed: {error}") from error
    except OSError:
        _remove_quietly(temporary)
        raise
    os.replace(temporary, target)
    return target


def _remove_quietly(path: str) -> None:
    try:
        os.remove(path)
    except FileNotFoundError:
        pass
