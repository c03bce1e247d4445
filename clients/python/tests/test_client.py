"""The Python client against a live `cloudrun serve`, on the bundled em_quarter_ss case."""

from __future__ import annotations

import os

import pytest

import cloudrun.run
from cloudrun import (
    FIELDS,
    AuthenticationError,
    BadRequestError,
    Cloudrun,
    CloudrunError,
    ConflictError,
    NotFoundError,
)

from conftest import EXAMPLE

NAMELIST = EXAMPLE / "namelist.input"
SOUNDING = EXAMPLE / "input_sounding"

# Below the sizes of input_sounding (14,469 bytes) and namelist.input (4,849 bytes), so both exceed it.
# The client still sends namelist.input directly, because the server parses it first.
LOW_THRESHOLD = 1024


@pytest.fixture
def api(server) -> Cloudrun:
    return Cloudrun(token=server.token, url=server.api_url, presigned_threshold=LOW_THRESHOLD)


def input_entry(run, filename):
    return next(f for f in run.input_files if f["filename"] == filename)


def test_lifecycle_em_quarter_ss(api, tmp_path):
    run = api.create_run(model="wrf", version="3.9")
    assert run.status == "created"
    assert run.required_input_files == ["namelist.input"]
    assert run.percent_complete is None

    namelist_id = run.upload(file=NAMELIST)
    sounding_id = run.upload(file=SOUNDING)

    assert run.status == "ready"
    assert run.required_input_files == ["input_sounding", "namelist.input"]
    assert input_entry(run, "namelist.input")["fileid"] == namelist_id
    sounding = input_entry(run, "input_sounding")
    assert sounding["fileid"] == sounding_id
    assert sounding["size"] == SOUNDING.stat().st_size
    assert sounding["state"] == "complete"
    assert run.model["domain_shape"] == [[41, 42, 42]]
    assert run.model["version"] == "3.9"

    cores = run.compute_options[0]["cores"]
    run.start(cores=cores)
    assert run.status in ("starting", "active")
    assert run.cores == cores

    run.wait(poll=0.1)
    assert run.status == "done", run.error
    assert run.engine == "dry-run"
    assert run.percent_complete == 100
    assert run.remaining_time == 0
    assert run.time_stopped is not None

    paths = run.download_outputs(tmp_path / "outputs")
    names = sorted(os.path.basename(p) for p in paths)
    assert names == sorted(f["filename"] for f in run.output_files)
    assert any(name.startswith("wrfout_d01_") for name in names)
    for entry in run.output_files:
        assert os.path.getsize(tmp_path / "outputs" / entry["filename"]) == entry["size"]
    wrfout = next(p for p in paths if os.path.basename(p).startswith("wrfout_d01_"))
    with open(wrfout, "rb") as file:
        assert file.read(3) == b"CDF"

    assert api.get_all_runs()[0].id == run.id

    run.delete()
    assert run.output_files == []
    assert run.output_size == 0
    assert api.get_run(run.id).status == "done"


def test_run_has_every_field(api):
    run = api.create_run()
    for name in FIELDS:
        assert hasattr(run, name), name
    assert set(run.data) == set(FIELDS)


def test_presigned_single_put(api, tmp_path):
    run = api.create_run()
    path = tmp_path / "wrfbdy_d01"
    path.write_bytes(os.urandom(6000))

    fileid = run.upload(file=path, progress=False)

    entry = input_entry(run, "wrfbdy_d01")
    assert entry["fileid"] == fileid
    assert entry["size"] == 6000
    assert entry["state"] == "complete"


def test_presigned_upload_completed_elsewhere(api, tmp_path, monkeypatch):
    """The hosted service's S3 event may complete a single-PUT upload before the client's completion call."""
    original_put = cloudrun.run.put_region

    def put_then_complete(session, url, *args, **kwargs):
        etag = original_put(session, url, *args, **kwargs)
        run_id, fileid = url.split("?")[0].split("/")[-2:]
        api.request("POST", f"/wrf/{run_id}/upload/{fileid}/complete")
        return etag

    monkeypatch.setattr(cloudrun.run, "put_region", put_then_complete)
    run = api.create_run()
    path = tmp_path / "wrfbdy_d01"
    path.write_bytes(os.urandom(2000))

    fileid = run.upload(file=path, progress=False)

    assert input_entry(run, "wrfbdy_d01")["fileid"] == fileid


def test_small_file_goes_multipart(server, tmp_path):
    api = Cloudrun(token=server.token, url=server.api_url)
    run = api.create_run()
    path = tmp_path / "wrfinput_d01"
    path.write_bytes(b"small")

    run.upload(file=path, filename="renamed_input")

    assert input_entry(run, "renamed_input")["size"] == 5


def test_upload_url_waits_for_transfer(api, file_server):
    run = api.create_run()

    fileid = run.upload(url=f"{file_server}/input_sounding", poll=0.1)

    entry = input_entry(run, "input_sounding")
    assert entry["fileid"] == fileid
    assert entry["state"] == "complete"
    assert entry["size"] == SOUNDING.stat().st_size
    assert entry["source_url"] == f"{file_server}/input_sounding"


def test_upload_url_failure_raises(api, file_server):
    run = api.create_run()

    with pytest.raises(CloudrunError) as raised:
        run.upload(url=f"{file_server}/missing_file", poll=0.1)

    assert "failed" in raised.value.message
    assert input_entry(run, "missing_file")["state"] == "failed"


def test_upload_url_namelist_rejected(api, file_server):
    run = api.create_run()

    with pytest.raises(BadRequestError) as raised:
        run.upload(url=f"{file_server}/namelist.input")

    assert raised.value.status == 400
    assert "namelist.input" in raised.value.message


def test_invalid_namelist_keeps_run(api, tmp_path):
    run = api.create_run()
    run.upload(file=NAMELIST)
    broken = tmp_path / "namelist.input"
    broken.write_text("&time_control\n run_hours = abc,\n/\n")

    with pytest.raises(BadRequestError) as raised:
        run.upload(file=broken)

    assert "namelist.input" in raised.value.message
    assert run.refresh().status == "ready"
    assert input_entry(run, "namelist.input")["size"] == NAMELIST.stat().st_size


def test_stop_running_run(api):
    run = api.create_run()
    run.upload(file=NAMELIST)
    run.upload(file=SOUNDING, progress=False)
    run.start(cores=run.compute_options[0]["cores"])

    run.stop()

    assert run.status == "stopped"
    assert run.time_stopped is not None
    assert run.wait(poll=0.1, progress=False).status == "stopped"
    with pytest.raises(ConflictError):
        run.stop()


def test_invalid_token_raises_401(server):
    api = Cloudrun(token="not-a-token", url=server.api_url)

    with pytest.raises(AuthenticationError) as raised:
        api.get_all_runs()

    assert raised.value.status == 401
    assert "token" in raised.value.message


def test_unknown_run_raises_404(api):
    with pytest.raises(NotFoundError) as raised:
        api.get_run("0" * 32)

    assert raised.value.status == 404
    assert "0" * 32 in raised.value.message


def test_other_users_run_is_404(api, server, other_token):
    run = api.create_run()
    bob = Cloudrun(token=other_token, url=server.api_url)

    with pytest.raises(NotFoundError):
        bob.get_run(run.id)
    assert run.id not in [r.id for r in bob.get_all_runs()]


def test_unsupported_version_lists_supported(api):
    with pytest.raises(BadRequestError) as raised:
        api.create_run(version="1.0")

    assert raised.value.status == 400
    for version in ("3.8.1", "3.9", "4.7.1"):
        assert version in raised.value.message


def test_start_errors(api):
    run = api.create_run()
    with pytest.raises(ConflictError) as raised:
        run.start(cores=1)
    assert raised.value.status == 409
    assert "created" in raised.value.message

    run.upload(file=NAMELIST)
    with pytest.raises(ConflictError) as raised:
        run.start(cores=1)
    assert "input_sounding" in raised.value.message

    run.upload(file=SOUNDING, progress=False)
    with pytest.raises(BadRequestError) as raised:
        run.start(cores=3)
    assert "not a compute option" in raised.value.message


def test_wait_on_unstarted_run_raises(api):
    run = api.create_run()

    with pytest.raises(CloudrunError) as raised:
        run.wait(progress=False)

    assert "never started" in raised.value.message
    assert raised.value.status is None


def test_download_missing_output_raises_404(api, tmp_path):
    run = api.create_run()

    with pytest.raises(NotFoundError):
        run.download("wrfout_d01_missing", tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_upload_needs_file_or_url(api):
    run = api.create_run()

    with pytest.raises(CloudrunError):
        run.upload()
    with pytest.raises(CloudrunError):
        run.upload(file=NAMELIST, url="http://127.0.0.1/namelist.input")


def test_missing_token_is_clear(monkeypatch):
    monkeypatch.delenv("CLOUDRUN_API_TOKEN", raising=False)

    with pytest.raises(CloudrunError) as raised:
        Cloudrun(url="http://127.0.0.1:9/v1")

    assert "CLOUDRUN_API_TOKEN" in raised.value.message


def test_environment_gives_defaults(server, monkeypatch):
    monkeypatch.setenv("CLOUDRUN_API_TOKEN", server.token)
    monkeypatch.setenv("CLOUDRUN_API_URL", server.api_url)

    api = Cloudrun()

    assert api.url == server.api_url
    assert isinstance(api.get_all_runs(), list)


def test_default_url_without_environment(monkeypatch):
    monkeypatch.delenv("CLOUDRUN_API_URL", raising=False)

    assert Cloudrun(token="t").url == "https://api.cloudrun.co/v1"
