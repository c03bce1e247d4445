//! Whole runs on the local runner: the dry-run engine, real processes under
//! mpirun with stand-in WRF executables, stop, failure and server restarts.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::helpers::{fixture, quarter_ss_namelist, repo_path, TestServer, FAST_RUNNER};

fn output_names(run: &Value) -> Vec<String> {
    run["output_files"].as_array().into_iter().flatten().map(|f| f["filename"].as_str().expect("name").to_string()).collect()
}

fn engine_pid(run: &Value) -> i32 {
    // The job id is internal, so read the worker's pid from the process table instead.
    let id = run["id"].as_str().expect("id");
    let output = std::process::Command::new("pgrep").args(["-f", &format!("run-id {id}")]).output().expect("pgrep runs");
    String::from_utf8_lossy(&output.stdout).lines().next().and_then(|l| l.trim().parse().ok()).unwrap_or(0)
}

fn is_running(pid: i32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let state = stat.rsplit_once(')').map(|(_, rest)| rest.trim_start().chars().next().unwrap_or('X')).unwrap_or('X');
    pid > 0 && state != 'Z' && state != 'X'
}

#[tokio::test]
async fn dry_run_goes_through_lifecycle() {
    let server = TestServer::start("[runner]\npoll_milliseconds = 100\ndry_run_seconds = 3.0\n");
    let id = server.ready_quarter_ss().await;
    let (status, run) = server.post_form(&format!("/{id}/start"), &[("cores", "2")]).await;
    assert_eq!(status, 200, "{run}");
    assert_eq!(run["status"], "starting");
    assert_eq!(run["cores"], 2);
    assert_eq!(run["engine"], "dry-run");
    assert!(run["time_started"].is_string());

    let mut seen = Vec::new();
    let done = server
        .wait_for(&id, 60, |run| {
            if let Some(p) = run["percent_complete"].as_f64() {
                seen.push(p);
            }
            run["status"] == "done" || run["status"] == "error"
        })
        .await;
    assert_eq!(done["status"], "done", "{done}");
    assert!(seen.iter().any(|p| *p > 0.0 && *p < 100.0), "progress rose through the run: {seen:?}");
    assert!(seen.windows(2).all(|w| w[1] >= w[0]), "progress never falls: {seen:?}");
    assert_eq!(done["percent_complete"], 100.0);
    assert_eq!(done["remaining_time"], 0);
    assert!(done["time_stopped"].is_string());
    assert!(done["error"].is_null());

    let names = output_names(&done);
    for expected in ["wrfout_d01_0001-01-01_00:00:00", "rsl.out.0000", "rsl.error.0000"] {
        assert!(names.contains(&expected.to_string()), "{expected} missing from {names:?}");
    }
    let total: u64 = done["output_files"].as_array().expect("files").iter().map(|f| f["size"].as_u64().expect("size")).sum();
    assert_eq!(done["output_size"], total);

    let log = String::from_utf8(download(&server, &id, "rsl.out.0000").await).expect("text log");
    assert!(log.starts_with("cloudrun dry-run engine: no model was run"), "the log says it is not a model run");
    assert_eq!(log.lines().filter(|l| l.starts_with("Timing for main")).count(), 300, "one line per 12 s step over 60 minutes");
    assert!(log.contains("d01 0001-01-01_01:00:00 wrf: SUCCESS COMPLETE WRF"));

    let wrfout = download(&server, &id, "wrfout_d01_0001-01-01_00:00:00").await;
    let path = server.data_dir.join("downloaded.nc");
    std::fs::write(&path, &wrfout).expect("write");
    let header = ncdump(&path);
    assert!(header.contains("Time = UNLIMITED ; // (3 currently)"), "3 frames: 00:00, 00:30, 01:00\n{header}");
    assert!(header.contains("west_east = 41 ;"), "{header}");
    assert!(header.contains("bottom_top = 40 ;"), "{header}");
    assert!(header.contains("CLOUDRUN_ENGINE = \"dry-run\""), "{header}");
}

async fn download(server: &TestServer, id: &str, name: &str) -> Vec<u8> {
    let response = server
        .client
        .get(server.api(&format!("/{id}/output/{name}")))
        .header("Authorization", server.auth())
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200, "download {name}");
    assert_eq!(response.headers()["content-type"], "application/octet-stream");
    response.bytes().await.expect("body").to_vec()
}

fn ncdump(path: &Path) -> String {
    let output = std::process::Command::new("ncdump").arg("-h").arg(path).output().expect("ncdump is installed (netcdf-bin)");
    assert!(output.status.success(), "ncdump: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test]
async fn delete_removes_outputs_keeps_metadata() {
    let server = TestServer::start(FAST_RUNNER);
    let id = server.ready_quarter_ss().await;
    server.post_form(&format!("/{id}/start"), &[("cores", "1")]).await;
    let done = server.wait_status(&id, 60, &["done", "error"]).await;
    assert_eq!(done["status"], "done", "{done}");
    let (status, run) = server.delete(&format!("/{id}")).await;
    assert_eq!(status, 200, "{run}");
    assert_eq!(run["output_files"], serde_json::json!([]));
    assert_eq!(run["output_size"], 0);
    assert_eq!(run["status"], "done");
    assert_eq!(run["model"], done["model"]);
    assert!(!server.data_dir.join(format!("files/{id}/outputs")).exists());
    let response = server
        .client
        .get(server.api(&format!("/{id}/output/rsl.out.0000")))
        .header("Authorization", server.auth())
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 404);
}

/// Returns the bundled case with one history file per 5 minutes, so that files close during the run.
fn frequent_output_namelist() -> Vec<u8> {
    let text = String::from_utf8(quarter_ss_namelist()).expect("utf-8");
    let text = text
        .replace("history_interval                    = 30,   10,   10,", "history_interval = 5, 10, 10,")
        .replace("frames_per_outfile                  = 1000, 1000, 1000,", "frames_per_outfile = 1, 1, 1,");
    assert!(text.contains("frames_per_outfile = 1, 1, 1"), "the bundled namelist changed");
    text.into_bytes()
}

#[tokio::test]
async fn stop_keeps_outputs_written_so_far() {
    let server = TestServer::start("[runner]\npoll_milliseconds = 100\ndry_run_seconds = 20.0\n");
    let id = server.create_run().await;
    server.upload(&id, "namelist.input", frequent_output_namelist()).await;
    server.upload(&id, "input_sounding", crate::helpers::quarter_ss_sounding()).await;
    let (status, body) = server.post_form(&format!("/{id}/start"), &[("cores", "1")]).await;
    assert_eq!(status, 200, "{body}");

    let running = server.wait_for(&id, 60, |run| output_names(run).iter().any(|n| n.starts_with("wrfout"))).await;
    assert_eq!(running["status"], "active", "outputs appear while the run is active: {running}");
    let pid = engine_pid(&running);
    assert!(is_running(pid), "engine process found");

    let (status, stopped) = server.post_form(&format!("/{id}/stop"), &[]).await;
    assert_eq!(status, 200, "{stopped}");
    assert_eq!(stopped["status"], "stopped");
    assert!(stopped["time_stopped"].is_string());
    for _ in 0..50 {
        if !is_running(pid) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!is_running(pid), "the engine process ends after stop");

    let after = server.wait_for(&id, 20, |run| output_names(run).contains(&"rsl.out.0000".to_string())).await;
    assert_eq!(after["status"], "stopped", "the process end does not overwrite `stopped`");
    let wrfouts = output_names(&after).into_iter().filter(|n| n.starts_with("wrfout")).count();
    assert!((1..13).contains(&wrfouts), "some but not all 13 history files: {wrfouts}");
    assert!(after["percent_complete"].as_f64().expect("percent") < 100.0);
}

#[tokio::test]
async fn restart_reattaches_live_run() {
    let mut server = TestServer::start("[runner]\npoll_milliseconds = 100\ndry_run_seconds = 6.0\n");
    let id = server.ready_quarter_ss().await;
    server.post_form(&format!("/{id}/start"), &[("cores", "1")]).await;
    server.wait_status(&id, 30, &["active"]).await;
    server.kill();
    tokio::time::sleep(Duration::from_millis(500)).await;
    server.restart();
    let done = server.wait_status(&id, 60, &["done", "error"]).await;
    assert_eq!(done["status"], "done", "{done}");
    assert!(output_names(&done).contains(&"wrfout_d01_0001-01-01_00:00:00".to_string()));
    assert!(server.server_log().contains("reattached"), "{}", server.server_log());
}

#[tokio::test]
async fn restart_marks_dead_run_lost() {
    let mut server = TestServer::start("[runner]\npoll_milliseconds = 100\ndry_run_seconds = 30.0\n");
    let id = server.ready_quarter_ss().await;
    server.post_form(&format!("/{id}/start"), &[("cores", "1")]).await;
    let active = server.wait_for(&id, 30, |run| run["percent_complete"].as_f64().unwrap_or(0.0) > 0.0).await;
    let pid = engine_pid(&active);
    server.kill();
    std::process::Command::new("kill").args(["-KILL", &pid.to_string()]).status().expect("kill runs");
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.restart();
    let ended = server.wait_status(&id, 30, &["done", "error"]).await;
    assert_eq!(ended["status"], "error", "{ended}");
    assert_eq!(ended["error"]["status"], "lost");
    assert!(ended["error"]["message"].as_str().expect("message").contains("restarted"), "{ended}");
    assert_eq!(ended["input_files"], active["input_files"], "nothing stored is lost");
    assert!(output_names(&ended).contains(&"rsl.out.0000".to_string()), "partial outputs are kept");
}

/// Creates a WRF build folder whose executables are shell scripts that write WRF's files.
fn fake_wrf_build(root: &Path, wrf_script: &str) -> std::path::PathBuf {
    let build = root.join("fake-wrf");
    std::fs::create_dir_all(build.join("main")).expect("main");
    std::fs::create_dir_all(build.join("run")).expect("run");
    std::fs::write(build.join("run/RRTMG_LW_DATA"), b"table").expect("table");
    std::fs::write(build.join("run/namelist.input"), b"not staged").expect("namelist");
    let ideal = "#!/bin/sh\n[ -f input_sounding ] || exit 3\necho 'SUCCESS COMPLETE IDEAL INIT' > rsl.out.0000\necho fake > wrfinput_d01\n";
    for (name, text) in [("ideal.exe", ideal), ("wrf.exe", wrf_script)] {
        let path = build.join("main").join(name);
        std::fs::write(&path, text).expect("script");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    build
}

fn wrf_config(build: &Path, extra: &str) -> String {
    format!("[runner]\npoll_milliseconds = 100\nwrf_dir = \"{}\"\n{extra}", build.display())
}

#[tokio::test]
async fn wrf_engine_runs_ideal_then_mpirun() {
    let temp = tempfile::tempdir().expect("temp dir");
    let log = repo_path("tests/fixtures/em_quarter_ss/rsl.out.0000");
    // Each MPI rank writes its own rsl.out; rank 0 replays the real log of this case.
    let script = format!(
        "#!/bin/sh\nrank=${{OMPI_COMM_WORLD_RANK:-0}}\n[ -L RRTMG_LW_DATA ] || exit 4\n[ -f wrfinput_d01 ] || exit 5\n\
         if [ \"$rank\" = 0 ]; then\n  head -n 150 {log} > rsl.out.0000\n  sleep 1\n  echo data > wrfout_d01_0001-01-01_00:00:00\n  \
         cat {log} > rsl.out.0000\nelse\n  echo 'taskid: 1' > rsl.out.000$rank\nfi\n",
        log = log.display()
    );
    let build = fake_wrf_build(temp.path(), &script);
    let server = TestServer::start(&wrf_config(&build, ""));
    let id = server.ready_quarter_ss().await;
    let (status, run) = server.post_form(&format!("/{id}/start"), &[("cores", "2")]).await;
    assert_eq!(status, 200, "{run}");
    assert_eq!(run["engine"], "wrf");
    let done = server.wait_status(&id, 60, &["done", "error"]).await;
    assert_eq!(done["status"], "done", "{done}\n{}", server.server_log());
    let names = output_names(&done);
    for expected in ["wrfout_d01_0001-01-01_00:00:00", "rsl.out.0000", "rsl.out.0001", "wrfinput_d01", "ideal.rsl.out.0000"] {
        assert!(names.contains(&expected.to_string()), "{expected} missing from {names:?}");
    }
    assert!(!names.contains(&"RRTMG_LW_DATA".to_string()), "WRF's tables are not outputs");
}

#[tokio::test]
async fn wrf_fatal_becomes_run_error() {
    let temp = tempfile::tempdir().expect("temp dir");
    let log = repo_path("tests/fixtures/logs/em_quarter_ss-32ranks-FATAL.rsl.out.0000");
    let script = format!("#!/bin/sh\ncat {} > rsl.out.0000\nexit 1\n", log.display());
    let build = fake_wrf_build(temp.path(), &script);
    let server = TestServer::start(&wrf_config(&build, ""));
    let id = server.ready_quarter_ss().await;
    server.post_form(&format!("/{id}/start"), &[("cores", "1")]).await;
    let ended = server.wait_status(&id, 60, &["done", "error"]).await;
    assert_eq!(ended["status"], "error", "{ended}");
    assert_eq!(ended["error"]["status"], "wrf_fatal");
    let message = ended["error"]["message"].as_str().expect("message");
    assert!(message.contains("Reduce the MPI rank count"), "{message}");
    assert!(ended["time_stopped"].is_string());
}

#[tokio::test]
async fn wrf_crash_reports_log_tail() {
    let temp = tempfile::tempdir().expect("temp dir");
    let log = fixture("logs/WRF-GC_wrf-gc-release_issue30_sigsegv.rsl.excerpt");
    let excerpt = temp.path().join("crash.log");
    std::fs::write(&excerpt, log).expect("write");
    let script = format!(
        "#!/bin/sh\necho 'Timing for main: time 0001-01-01_00:00:12 on domain   1:    0.31981 elapsed seconds' > rsl.out.0000\n\
         cat {} > rsl.error.0000\nexit 139\n",
        excerpt.display()
    );
    let build = fake_wrf_build(temp.path(), &script);
    let server = TestServer::start(&wrf_config(&build, ""));
    let id = server.ready_quarter_ss().await;
    server.post_form(&format!("/{id}/start"), &[("cores", "1")]).await;
    let ended = server.wait_status(&id, 60, &["done", "error"]).await;
    assert_eq!(ended["status"], "error", "{ended}");
    assert_eq!(ended["error"]["status"], "wrf_crashed", "{ended}");
    assert!(ended["error"]["message"].as_str().expect("message").contains("SIGSEGV"), "{ended}");
}

#[tokio::test]
async fn stalled_log_ends_run() {
    let temp = tempfile::tempdir().expect("temp dir");
    let script = "#!/bin/sh\necho 'Timing for main: time 0001-01-01_00:00:12 on domain   1:    0.31981 elapsed seconds' > rsl.out.0000\nsleep 120\n";
    let build = fake_wrf_build(temp.path(), script);
    let server = TestServer::start(&wrf_config(&build, "stall_seconds = 2\n"));
    let id = server.ready_quarter_ss().await;
    server.post_form(&format!("/{id}/start"), &[("cores", "1")]).await;
    let ended = server.wait_status(&id, 60, &["done", "error"]).await;
    assert_eq!(ended["status"], "error", "{ended}");
    assert_eq!(ended["error"]["status"], "stalled");
    let message = ended["error"]["message"].as_str().expect("message");
    assert!(message.contains("did not grow"), "{message}");
}

#[tokio::test]
async fn missing_wrf_build_reports_engine_error() {
    let temp = tempfile::tempdir().expect("temp dir");
    let server = TestServer::start(&wrf_config(&temp.path().join("no-such-build"), ""));
    let id = server.ready_quarter_ss().await;
    server.post_form(&format!("/{id}/start"), &[("cores", "1")]).await;
    let ended = server.wait_status(&id, 60, &["done", "error"]).await;
    assert_eq!(ended["status"], "error", "{ended}");
    assert_eq!(ended["error"]["status"], "engine_failed", "{ended}");
    assert!(ended["error"]["message"].as_str().expect("message").contains("WRF"), "{ended}");
}

#[tokio::test]
async fn relative_data_dir_runs() {
    let temp = tempfile::tempdir().expect("temp dir");
    let mut child = std::process::Command::new(crate::helpers::BIN)
        .args(["serve", "--addr", "127.0.0.1:0", "--data-dir", "data"])
        .current_dir(temp.path())
        .env("CLOUDRUN_CONFIG", repo_path("tests/fixtures/fast-runner.toml"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("serve starts");
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().expect("stdout")), &mut line).expect("address");
    let url = line.trim().trim_start_matches("cloudrun listening on ").to_string();
    let token = std::process::Command::new(crate::helpers::BIN)
        .args(["token", "create", "--user", "alice", "--data-dir", "data"])
        .current_dir(temp.path())
        .output()
        .expect("token create");
    let token = String::from_utf8(token.stdout).expect("utf-8").trim().to_string();
    let client = reqwest::Client::new();
    let auth = format!("Bearer {token}");
    let run: Value = client.post(format!("{url}/v1/wrf")).header("Authorization", &auth).send().await.expect("create").json().await.expect("json");
    let id = run["id"].as_str().expect("id").to_string();
    for (name, bytes) in [("namelist.input", quarter_ss_namelist()), ("input_sounding", crate::helpers::quarter_ss_sounding())] {
        let form = reqwest::multipart::Form::new().part("file", reqwest::multipart::Part::bytes(bytes).file_name(name));
        let response = client.post(format!("{url}/v1/wrf/{id}/upload")).header("Authorization", &auth).multipart(form).send().await.expect("upload");
        assert_eq!(response.status(), 200);
    }
    let response = client.post(format!("{url}/v1/wrf/{id}/start")).header("Authorization", &auth).form(&[("cores", "1")]).send().await.expect("start");
    assert_eq!(response.status(), 200);
    let mut status = String::new();
    for _ in 0..300 {
        let run: Value = client.get(format!("{url}/v1/wrf/{id}")).header("Authorization", &auth).send().await.expect("get").json().await.expect("json");
        status = run["status"].as_str().unwrap_or_default().to_string();
        if status == "done" || status == "error" {
            assert_eq!(status, "done", "{run}");
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(status, "done");
}

/// Runs the bundled case (one history file per 5 minutes) on a real WRF build. It needs
/// a compiled WRF, so it runs only on request:
/// `WRF_DIR=/path/to/WRF cargo test -p cloudrun-local --test api -- --ignored real_wrf`.
#[tokio::test]
#[ignore = "needs a compiled WRF in WRF_DIR"]
async fn real_wrf_reports_progress_and_outputs() {
    let wrf_dir = std::env::var("WRF_DIR").expect("WRF_DIR points at a compiled WRF");
    let server = TestServer::start(&wrf_config(Path::new(&wrf_dir), ""));
    let id = server.create_run().await;
    server.upload(&id, "namelist.input", frequent_output_namelist()).await;
    server.upload(&id, "input_sounding", crate::helpers::quarter_ss_sounding()).await;
    let (status, run) = server.post_form(&format!("/{id}/start"), &[("cores", "2")]).await;
    assert_eq!(status, 200, "{run}");

    let (mut progress, mut outputs_while_active) = (Vec::new(), 0);
    let done = server
        .wait_for(&id, 600, |run| {
            if run["status"] == "active" {
                progress.push(run["percent_complete"].as_f64().unwrap_or(0.0));
                outputs_while_active = outputs_while_active.max(output_names(run).iter().filter(|n| n.starts_with("wrfout")).count());
            }
            run["status"] == "done" || run["status"] == "error"
        })
        .await;
    assert_eq!(done["status"], "done", "{done}");
    assert!(progress.iter().any(|p| *p > 0.0 && *p < 100.0), "progress rose: {progress:?}");
    assert!(outputs_while_active >= 1, "history files appeared before the end");
    let wrfouts = output_names(&done).into_iter().filter(|n| n.starts_with("wrfout")).count();
    assert_eq!(wrfouts, 13, "00:00 to 01:00 every 5 minutes");
    let log = String::from_utf8(download(&server, &id, "rsl.out.0000").await).expect("text");
    assert!(log.contains("SUCCESS COMPLETE WRF"));
    assert!(!log.contains("dry-run"), "a real model run");
}
