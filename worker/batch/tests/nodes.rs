//! The Batch worker's multi-node path against the AWS emulator: worker
//! processes as nodes on 127.0.0.1 and 127.0.0.2, a real mpirun across them,
//! a real MPI program in place of wrf.exe, DynamoDB and S3 in moto.
//! Needs `AWS_ENDPOINT_URL` (and `MOTO_PID` for the outage) from scripts/moto.sh.

#[path = "../../../tests/support/mpi_build.rs"]
mod mpi_build;

use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use cloudrun_aws::deployment::Deployment;
use cloudrun_aws::emulator::Emulator;
use cloudrun_core::api::fields::Fields;
use cloudrun_core::api::{modify_run, runs, uploads, Caller, Services};
use cloudrun_core::config::Config;
use cloudrun_core::ports::{Area, ByteStream};
use cloudrun_core::run::{Id, Run, Status};

const BIN: &str = env!("CARGO_BIN_EXE_cloudrun-worker");

async fn deployment(prefix: &str) -> (Emulator, Deployment) {
    let emulator = Emulator::from_env().expect("the AWS emulator is running (scripts/moto.sh)");
    let prefix = format!("{prefix}-{}", &Id::new_random().as_str()[..8]);
    let (settings, clients) = emulator.create_deployment(&prefix, Config::default()).await.expect("deployment");
    (emulator, Deployment::new(settings, &clients))
}

fn bytes_stream(bytes: Vec<u8>) -> ByteStream {
    Box::pin(futures::stream::iter([Ok(bytes::Bytes::from(bytes))]))
}

/// Creates a run of the bundled case and puts it where `start` leaves it: `starting` on `cores` cores.
async fn started_run(services: &Services, cores: i64) -> Id {
    let caller = Caller { user: "alice".into() };
    let mut fields = Fields::default();
    fields.insert("version", "4.7.1".into());
    let run = runs::create_run(services, &caller, &fields).await.expect("create");
    let id = run["id"].as_str().expect("id").to_string();
    let case = mpi_build::repository().join("examples/em_quarter_ss");
    for name in ["namelist.input", "input_sounding"] {
        let bytes = std::fs::read(case.join(name)).expect("bundled case");
        uploads::upload_file(services, &caller, &id, name, bytes_stream(bytes)).await.expect("upload");
    }
    let id: Id = id.parse().expect("id");
    modify_run(services.runs.as_ref(), &id, None, |run| {
        run.status = Status::Starting;
        run.cores = Some(cores);
        Ok(())
    })
    .await
    .expect("starting");
    id
}

/// Starts the worker of node `index` of `nodes`, as Batch would.
fn start_node(deployment: &Deployment, emulator: &Emulator, id: &Id, index: usize, nodes: usize, port: u16, build: &Path, agent: &Path, scratch: &Path) -> Child {
    Command::new(BIN)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("CLOUDRUN_RUN_ID", id.as_str())
        .env("CLOUDRUN_TABLE", &deployment.settings.table)
        .env("CLOUDRUN_BUCKET", &deployment.settings.bucket)
        .env("AWS_ENDPOINT_URL", &emulator.endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_BATCH_JOB_NODE_INDEX", index.to_string())
        .env("AWS_BATCH_JOB_MAIN_NODE_INDEX", "0")
        .env("AWS_BATCH_JOB_NUM_NODES", nodes.to_string())
        .env("AWS_BATCH_JOB_MAIN_NODE_PRIVATE_IPV4_ADDRESS", "127.0.0.1")
        .env("CLOUDRUN_NODE_ADDRESS", format!("127.0.0.{}", index + 1))
        .env("CLOUDRUN_RENDEZVOUS_PORT", port.to_string())
        .env("WRF_DIR", build)
        .env("CLOUDRUN_MPIRUN_ARGS", mpi_build::mpirun_args(agent).join(" "))
        .env("CLOUDRUN_SLOTS", "1")
        .env("CLOUDRUN_SCRATCH", scratch)
        .env("CLOUDRUN_POLL_MILLISECONDS", "200")
        .env("CLOUDRUN_AWS_TIMEOUT_SECONDS", "1")
        .env("CLOUDRUN_RENDEZVOUS_TIMEOUT_SECONDS", "30")
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        .stderr(std::fs::File::create(scratch.join(format!("node{index}.log"))).expect("log"))
        .spawn()
        .expect("worker starts")
}

async fn wait_for(services: &Services, id: &Id, seconds: u64, mut done: impl FnMut(&Run) -> bool) -> Run {
    let started = Instant::now();
    loop {
        if let Ok(Some(run)) = services.runs.get(id).await {
            if done(&run) {
                return run;
            }
        }
        assert!(started.elapsed() < Duration::from_secs(seconds), "timed out after {seconds} s waiting on run {id}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("port").local_addr().expect("address").port()
}

fn signal(pid: &str, name: &str) {
    Command::new("kill").args([&format!("-{name}"), pid]).status().expect("kill runs");
}

/// One test, because the outage pauses the emulator that every test of this binary shares.
#[tokio::test]
async fn nodes_report_through_aws() {
    let temp = tempfile::tempdir().expect("temp dir");
    let (build, agent) = mpi_build::mpi_build(temp.path(), 14.0);
    let (emulator, deployment) = deployment("cr-nodes").await;
    let services = deployment.services.clone();

    // Two nodes run the job, and S3 and DynamoDB stop responding for a while in the middle.
    let id = started_run(&services, 2).await;
    let port = free_port();
    let mut nodes: Vec<Child> = (0..2).map(|i| start_node(&deployment, &emulator, &id, i, 2, port, &build, &agent, temp.path())).collect();
    let active = wait_for(&services, &id, 60, |run| run.percent_complete.unwrap_or(0.0) > 10.0).await;
    assert_eq!(active.status, Status::Active);
    let moto_pid = std::env::var("MOTO_PID").expect("MOTO_PID from scripts/moto.sh");
    signal(&moto_pid, "STOP");
    // Longer than the SDK's own attempts (three of at most 1 s each), so the worker's retries show.
    tokio::time::sleep(Duration::from_secs(7)).await;
    signal(&moto_pid, "CONT");

    let done = wait_for(&services, &id, 120, |run| run.status.is_finished()).await;
    assert_eq!(done.status, Status::Done, "{:?}", done.error);
    for node in &mut nodes {
        let status = node.wait().expect("node ends");
        assert!(status.success(), "every node exits 0 after a successful run");
    }
    let stored = services.files.list(&id, Area::Outputs).await.expect("list outputs");
    let names: Vec<&str> = stored.iter().map(|f| f.filename.as_str()).collect();
    for expected in ["rsl.out.0000", "rsl.out.0001", "wrfout_d01_0001-01-01_00:00:00", "wrfout_d01_0001-01-01_00:30:00", "wrfout_d01_0001-01-01_01:00:00"] {
        assert!(names.contains(&expected), "{expected} missing from S3: {names:?}");
    }
    assert_eq!(done.output_files, stored, "the run lists exactly what S3 holds");
    let main_log = std::fs::read_to_string(temp.path().join("node0.log")).expect("main node log");
    assert!(main_log.contains("failed"), "the outage was noticed and retried:\n{main_log}");
    let agent_log = std::fs::read_to_string(temp.path().join("agent.log")).expect("mpirun used the launcher");
    assert!(agent_log.lines().any(|l| l == "127.0.0.2"), "{agent_log}");

    // A stop in the middle: the run is `stopped`, Batch sends SIGTERM, outputs so far are kept.
    let id = started_run(&services, 1).await;
    let mut main = start_node(&deployment, &emulator, &id, 0, 1, free_port(), &build, &agent, temp.path());
    wait_for(&services, &id, 60, |run| run.percent_complete.unwrap_or(0.0) > 10.0).await;
    modify_run(services.runs.as_ref(), &id, None, |run| {
        run.finish(Status::Stopped, None);
        Ok(())
    })
    .await
    .expect("stop");
    signal(&main.id().to_string(), "TERM");
    let status = main.wait().expect("main node ends");
    assert_eq!(status.code(), Some(143), "a terminated job exits as terminated");
    let stopped = services.runs.get(&id).await.expect("get").expect("run");
    assert_eq!(stopped.status, Status::Stopped);
    let names: Vec<String> = stopped.output_files.iter().map(|f| f.filename.clone()).collect();
    assert!(names.contains(&"rsl.out.0000".to_string()), "outputs written before the stop are stored: {names:?}");
}
