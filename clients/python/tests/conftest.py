"""Fixtures that start a real `cloudrun serve` on 127.0.0.1 and a static file server for upload_url."""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
EXAMPLE = REPO / "examples" / "em_quarter_ss"
OPENAPI = Path(os.environ.get("CLOUDRUN_OPENAPI", REPO / "docs" / "openapi.yaml"))
SERVER_RS = REPO / "shared" / "local" / "src" / "server.rs"
BINARY = Path(os.environ.get("CLOUDRUN_BIN", REPO / "target" / "debug" / "cloudrun"))

# Runs take about a second on the dry-run engine. Presigned uploads above
# 8 KiB are split into 4 KiB parts, so the 14 KiB input_sounding exercises the
# part flow. Files are capped at 1 MiB because the server lists every part
# URL in one response: a generated size of 1 TB would make 244 million parts.
# upload_url may fetch from this machine's loopback address, where the tests
# serve files.
SERVER_CONFIG = """\
[runner]
poll_milliseconds = 100
dry_run_seconds = 1.0

[uploads]
multipart_threshold_bytes = 8192
part_bytes = 4096
max_file_bytes = 1048576

[upload_url]
allowed_networks = ["127.0.0.1/32"]
"""

STARTUP_SECONDS = 30


@dataclass
class Server:
    """A running `cloudrun serve` and a token for the user `alice`."""

    root_url: str
    data_dir: Path
    token: str
    process: subprocess.Popen

    @property
    def api_url(self) -> str:
        return self.root_url + "/v1"


def _read_listening_line(process: subprocess.Popen) -> str:
    """Return the server's first stdout line, or fail if it does not come within STARTUP_SECONDS."""
    lines = []
    reader = threading.Thread(target=lambda: lines.append(process.stdout.readline()), daemon=True)
    reader.start()
    reader.join(STARTUP_SECONDS)
    if not lines or not lines[0]:
        process.kill()
        pytest.fail(f"cloudrun serve printed no address within {STARTUP_SECONDS} s", pytrace=False)
    return lines[0].strip()


def _create_token(data_dir: Path, user: str) -> str:
    result = subprocess.run(
        [str(BINARY), "token", "create", "--user", user, "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return result.stdout.strip()


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory):
    """Start one server for the whole test session and stop it at the end."""
    if not BINARY.exists():
        pytest.fail(f"{BINARY} not found; build it first with `cargo build -p cloudrun-local`", pytrace=False)
    # An absolute path, because the runner starts each run's engine inside the data directory.
    data_dir = tmp_path_factory.mktemp("cloudrun-data").resolve()
    (data_dir / "cloudrun.toml").write_text(SERVER_CONFIG)
    log = open(data_dir / "server.log", "wb")
    process = subprocess.Popen(
        [str(BINARY), "serve", "--addr", "127.0.0.1:0", "--data-dir", str(data_dir)],
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )
    line = _read_listening_line(process)
    prefix = "cloudrun listening on "
    assert line.startswith(prefix), f"unexpected first line from cloudrun serve: {line!r}"
    yield Server(line[len(prefix):], data_dir, _create_token(data_dir, "alice"), process)

    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    log.close()


@pytest.fixture(scope="session")
def other_token(server: Server) -> str:
    """A token of a second user, `bob`."""
    return _create_token(server.data_dir, "bob")


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 (the base class names it so)
        pass


@pytest.fixture(scope="session")
def file_server(tmp_path_factory: pytest.TempPathFactory):
    """Serve a copy of the example case over HTTP on 127.0.0.1 and yield the root URL."""
    root = tmp_path_factory.mktemp("served")
    for name in ("namelist.input", "input_sounding"):
        shutil.copy(EXAMPLE / name, root / name)
    handler = functools.partial(_QuietHandler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
