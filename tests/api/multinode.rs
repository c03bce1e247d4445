//! Multi-node runs on one machine. Worker processes act as the nodes
//! 127.0.0.1, 127.0.0.2, ..., and a real mpirun runs a real MPI program in
//! place of wrf.exe across them. A script replaces mpirun's remote launcher
//! and starts Open MPI's daemon locally, and MPI traffic stays on loopback.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use cloudrun_core::ports::RunStore;
use cloudrun_core::run::Status;
use serde_json::Value;

use crate::helpers::TestServer;
use crate::mpi_build::{mpi_build, mpirun_args};

fn multinode_config(build: &Path, agent: &Path, nodes: usize, timeout: u64) -> String {
    let args: Vec<String> = mpirun_args(agent).iter().map(|a| format!("\"{a}\"")).collect();
    format!(
        "[runner]\npoll_milliseconds = 100\nwrf_dir = \"{}\"\nnodes = {nodes}\nslots_per_node = 1\n\
         rendezvous_timeout_seconds = {timeout}\nmpirun_args = [{}]\n",
        build.display(),
        args.join(", ")
    )
}

fn output_names(run: &Value) -> Vec<String> {
    run["output_files"].as_array().into_iter().flatten().map(|f| f["filename"].as_str().expect("name").to_string()).collect()
}

/// Live processes whose command line contains `pattern`; exited ones awaiting their parent do not count.
fn live_pids(pattern: &str) -> Vec<i32> {
    let output = Command::new("pgrep").args(["-f", pattern]).output().expect("pgrep runs");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|l| l.trim().parse::<i32>().ok())
        .filter(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let state = stat.rsplit_once(')').and_then(|(_, rest)| rest.trim_start().chars().next()).unwrap_or('X');
            state != 'Z' && state != 'X'
        })
        .collect()
}

/// Process ids of the workers of a run, with the node index each runs as.
fn worker_pids(id: &str) -> Vec<(i32, String)> {
    live_pids(&format!("run-id {id}"))
        .into_iter()
        .map(|pid| {
            let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
            let index = String::from_utf8_lossy(&environ)
                .split('\0')
                .find_map(|v| v.strip_prefix("AWS_BATCH_JOB_NODE_INDEX=").map(str::to_string))
                .unwrap_or_default();
            (pid, index)
        })
        .collect()
}

#[tokio::test]
async fn run_spans_two_nodes() {
    let temp = tempfile::tempdir().expect("temp dir");
    let (build, agent) = mpi_build(temp.path(), 4.0);
    let server = TestServer::start(&multinode_config(&build, &agent, 2, 30));
    let id = server.ready_quarter_ss().await;
    let (status, run) = server.post_form(&format!("/{id}/start"), &[("cores", "2")]).await;
    assert_eq!(status, 200, "{run}");

    let mut progress = Vec::new();
    let mut outputs_before_end = 0;
    let done = server
        .wait_for(&id, 90, |run| {
            if run["status"] == "active" {
                progress.push(run["percent_complete"].as_f64().unwrap_or(0.0));
                outputs_before_end = outputs_before_end.max(output_names(run).iter().filter(|n| n.starts_with("wrfout")).count());
            }
            run["status"] == "done" || run["status"] == "error"
        })
        .await;
    assert_eq!(done["status"], "done", "{done}\n{}", server.server_log());
    assert!(progress.iter().any(|p| *p > 0.0 && *p < 100.0), "progress rose during the run: {progress:?}");
    assert!(outputs_before_end >= 1, "history files appeared before the run ended");

    let names = output_names(&done);
    for expected in ["rsl.out.0000", "rsl.out.0001", "wrfout_d01_0001-01-01_01:00:00"] {
        assert!(names.contains(&expected.to_string()), "{expected} missing from {names:?}");
    }
    assert!(!names.contains(&"hostfile".to_string()));
    let hostfile = std::fs::read_to_string(server.data_dir.join(format!("work/{id}/hostfile"))).expect("hostfile");
    assert_eq!(hostfile, "127.0.0.1 slots=1\n127.0.0.2 slots=1\n");
    let agent_log = std::fs::read_to_string(temp.path().join("agent.log")).expect("mpirun used the launcher");
    assert!(agent_log.lines().any(|l| l == "127.0.0.2"), "mpirun started a daemon for the second node: {agent_log}");
    let rank_one = std::fs::read_to_string(server.data_dir.join(format!("files/{id}/outputs/rsl.out.0001"))).expect("rank 1 log");
    assert!(rank_one.contains("2 ranks, rank sum 1"), "{rank_one}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(worker_pids(&id).is_empty(), "every node's worker ended");
}

#[tokio::test]
async fn stop_ends_every_node() {
    let temp = tempfile::tempdir().expect("temp dir");
    let (build, agent) = mpi_build(temp.path(), 60.0);
    let server = TestServer::start(&multinode_config(&build, &agent, 2, 30));
    let id = server.ready_quarter_ss().await;
    server.post_form(&format!("/{id}/start"), &[("cores", "2")]).await;
    server.wait_for(&id, 60, |run| run["percent_complete"].as_f64().unwrap_or(0.0) > 0.0).await;
    assert_eq!(worker_pids(&id).len(), 2, "a worker per node");

    let (status, run) = server.post_form(&format!("/{id}/stop"), &[]).await;
    assert_eq!(status, 200, "{run}");
    assert_eq!(run["status"], "stopped");
    let after = server.wait_for(&id, 30, |run| output_names(run).contains(&"rsl.out.0001".to_string())).await;
    assert_eq!(after["status"], "stopped");
    for _ in 0..100 {
        if worker_pids(&id).is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(worker_pids(&id).is_empty(), "no worker outlives the stop");
    let rank_pattern = temp.path().join("fake_wrf").display().to_string();
    for _ in 0..100 {
        if live_pids(&rank_pattern).is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let ranks = live_pids(&rank_pattern);
    assert!(ranks.is_empty(), "no MPI rank outlives the stop: {ranks:?}");
}

#[tokio::test]
async fn main_node_loss_ends_run() {
    let temp = tempfile::tempdir().expect("temp dir");
    let (build, agent) = mpi_build(temp.path(), 60.0);
    let server = TestServer::start(&multinode_config(&build, &agent, 2, 30));
    let id = server.ready_quarter_ss().await;
    server.post_form(&format!("/{id}/start"), &[("cores", "2")]).await;
    server.wait_for(&id, 60, |run| run["percent_complete"].as_f64().unwrap_or(0.0) > 0.0).await;
    let workers = worker_pids(&id);
    let (main, _) = workers.iter().find(|(_, index)| index == "0").expect("main node worker").clone();
    Command::new("kill").args(["-KILL", &main.to_string()]).status().expect("kill runs");

    let ended = server.wait_status(&id, 30, &["error", "done"]).await;
    assert_eq!(ended["status"], "error", "{ended}");
    assert_eq!(ended["error"]["status"], "worker_died", "{ended}");
    for _ in 0..100 {
        if worker_pids(&id).is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(worker_pids(&id).is_empty(), "the child node ends without its main node");
}

#[tokio::test]
async fn missing_node_is_named() {
    let temp = tempfile::tempdir().expect("temp dir");
    let (build, agent) = mpi_build(temp.path(), 1.0);
    let server = TestServer::start(&multinode_config(&build, &agent, 1, 2));
    let id = server.ready_quarter_ss().await;

    // Put the run where `start` leaves it, then start the nodes by hand as Batch would, leaving out node 2.
    let store = cloudrun_local::store::SqliteStore::open(&server.data_dir.join("cloudrun.sqlite")).expect("store");
    let run_id = id.parse().expect("run id");
    let mut run = store.get(&run_id).await.expect("get").expect("run");
    run.status = Status::Starting;
    run.cores = Some(2);
    store.update(&run).await.expect("update");
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("port").local_addr().expect("address").port();
    let mut nodes = Vec::new();
    for index in [0, 1] {
        let child = Command::new(crate::helpers::BIN)
            .args(["worker", "--run-id", &id, "--data-dir"])
            .arg(&server.data_dir)
            .env("AWS_BATCH_JOB_NODE_INDEX", index.to_string())
            .env("AWS_BATCH_JOB_MAIN_NODE_INDEX", "0")
            .env("AWS_BATCH_JOB_NUM_NODES", "3")
            .env("AWS_BATCH_JOB_MAIN_NODE_PRIVATE_IPV4_ADDRESS", "127.0.0.1")
            .env("CLOUDRUN_NODE_ADDRESS", format!("127.0.0.{}", index + 1))
            .env("CLOUDRUN_RENDEZVOUS_PORT", port.to_string())
            .spawn()
            .expect("worker starts");
        nodes.push(child);
    }
    let ended = server.wait_status(&id, 30, &["error", "done"]).await;
    assert_eq!(ended["status"], "error", "{ended}");
    assert_eq!(ended["error"]["status"], "nodes_missing");
    let message = ended["error"]["message"].as_str().expect("message");
    assert!(message.contains("node(s) 2 did not announce"), "{message}");
    for mut node in nodes {
        let status = node.wait().expect("worker ends");
        assert!(status.code().is_some(), "worker ended on its own");
    }
}
