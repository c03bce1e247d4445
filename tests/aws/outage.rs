//! The emulator stops mid-test: handlers return a generic 5xx, and once it resumes every stored
//! run is still there as it was. This test runs its own moto server, named by `MOTO_SERVER`
//! (`scripts/moto.sh` exports it), so that stopping it disturbs no other test.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use cloudrun_aws::clients::Clients;
use cloudrun_aws::deployment::Deployment;
use cloudrun_aws::emulator::Emulator;
use serde_json::Value;

use crate::helpers::{test_config, Payload, Reply, Route, Stack};

const GENERIC: &str = "internal server error; the details are in the server log";

/// A moto server process of this test's own, on a free port of 127.0.0.1; killed on drop.
struct OwnMoto {
    child: Child,
    endpoint: String,
}

impl OwnMoto {
    async fn start() -> OwnMoto {
        let program = std::env::var("MOTO_SERVER").unwrap_or_else(|_| {
            panic!("MOTO_SERVER is not set; start moto with `eval \"$(scripts/moto.sh)\"`, which exports it")
        });
        let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("address").port();
        let child = Command::new(&program)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {program}: {e}"));
        let moto = OwnMoto { child, endpoint: format!("http://127.0.0.1:{port}") };
        let client = reqwest::Client::new();
        for _ in 0..100 {
            if client.get(format!("{}/moto-api/", moto.endpoint)).send().await.is_ok() {
                let config = serde_json::json!({"batch": {"use_docker": false}});
                client.post(format!("{}/moto-api/config", moto.endpoint)).json(&config).send().await.expect("configure");
                return moto;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("moto_server on port {port} did not start within 10 s");
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill").args([&format!("-{name}"), &self.child.id().to_string()]).status();
        assert!(status.is_ok_and(|s| s.success()), "kill -{name} failed");
    }
}

impl Drop for OwnMoto {
    fn drop(&mut self) {
        // A frozen process dies of SIGKILL all the same, so nothing here needs to succeed.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn assert_generic_5xx(reply: &Reply, what: &str) {
    assert!(reply.status >= 500, "{what}: {} {:?}", reply.status, reply.body);
    assert_eq!(reply.body["error"]["message"], GENERIC, "{what}");
    assert_eq!(reply.body["error"].as_object().map(|o| o.len()), Some(2), "{what}: nothing beyond status and message");
}

#[tokio::test]
async fn emulator_outage_loses_no_run() {
    let mut moto = OwnMoto::start().await;
    let emulator = Emulator::new(&moto.endpoint);
    let mut stack = Stack::on(&emulator, test_config()).await;
    // Short timeouts, so that each call gives up within seconds while the server is frozen.
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(1))
        .operation_attempt_timeout(Duration::from_secs(1))
        .operation_timeout(Duration::from_secs(4))
        .build();
    let impatient = emulator.shared.to_builder().timeout_config(timeouts).build();
    let clients = Clients::from_shared(&stack.deployment.settings, &impatient);
    stack.deployment = Deployment::new(stack.deployment.settings.clone(), &clients);

    let ready = stack.ready_run().await;
    let created = stack.call(Route::Create, "", Payload::Empty).await.body["id"].as_str().expect("id").to_string();
    let before: Vec<Value> = stack.call(Route::List, "", Payload::Empty).await.body.as_array().expect("runs").clone();
    assert_eq!(before.len(), 2);

    // SIGSTOP freezes the server: it accepts connections and sends no response.
    moto.signal("STOP");
    assert_generic_5xx(&stack.call_with(Route::Get, &ready, Payload::Empty, Some(alice())).await, "get");
    assert_generic_5xx(&stack.call_with(Route::List, "", Payload::Empty, Some(alice())).await, "list");
    assert_generic_5xx(&stack.call_with(Route::Start, &ready, Payload::Form("cores=1".into()), Some(alice())).await, "start");
    moto.signal("CONT");

    for run in &before {
        let id = run["id"].as_str().expect("id");
        let reply = stack.call(Route::Get, id, Payload::Empty).await;
        assert_eq!(reply.status, 200, "{id}: {:?}", reply.body);
        assert_eq!(&reply.body, run, "run {id} unchanged");
    }
    assert_eq!(stack.call(Route::Get, &created, Payload::Empty).await.body["status"], "created");

    // A killed server refuses connections, and the response is the same generic 5xx.
    moto.child.kill().expect("kill moto");
    moto.child.wait().expect("wait");
    assert_generic_5xx(&stack.call_with(Route::Get, &ready, Payload::Empty, Some(alice())).await, "get after kill");
    assert_generic_5xx(&stack.call_with(Route::Create, "", Payload::Empty, Some(alice())).await, "create after kill");
}

/// Returns alice's authorizer context as API Gateway caches it, because the authorizer itself needs the store.
fn alice() -> Value {
    serde_json::json!({"principalId": "alice", "user": "alice"})
}
