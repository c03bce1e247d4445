//! A `cloudrun serve` process per test, with its own data directory and token.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_cloudrun");

/// Fast dry runs and polling, so that a whole run takes a second or two.
pub const FAST_RUNNER: &str = "[runner]\npoll_milliseconds = 100\ndry_run_seconds = 1.0\n";

pub fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(relative)
}

pub fn fixture(relative: &str) -> Vec<u8> {
    let path = repo_path("tests/fixtures").join(relative);
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

pub fn quarter_ss_namelist() -> Vec<u8> {
    std::fs::read(repo_path("examples/em_quarter_ss/namelist.input")).expect("bundled namelist")
}

pub fn quarter_ss_sounding() -> Vec<u8> {
    std::fs::read(repo_path("examples/em_quarter_ss/input_sounding")).expect("bundled sounding")
}

pub struct TestServer {
    child: Option<Child>,
    pub url: String,
    pub token: String,
    pub data_dir: PathBuf,
    _temp: tempfile::TempDir,
    config: String,
    extra_env: Vec<(String, String)>,
    pub client: reqwest::Client,
}

impl TestServer {
    /// Starts a server with `config` as its cloudrun.toml.
    pub fn start(config: &str) -> TestServer {
        Self::start_with_env(config, &[])
    }

    pub fn start_with_env(config: &str, env: &[(&str, &str)]) -> TestServer {
        let temp = tempfile::tempdir().expect("temp dir");
        let data_dir = temp.path().join("data");
        std::fs::create_dir_all(&data_dir).expect("data dir");
        std::fs::write(data_dir.join("cloudrun.toml"), config).expect("config file");
        let mut server = TestServer {
            child: None,
            url: String::new(),
            token: String::new(),
            data_dir,
            _temp: temp,
            config: config.to_string(),
            extra_env: env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            client: reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client"),
        };
        server.spawn("127.0.0.1:0");
        server.token = server.create_token("alice");
        server
    }

    fn spawn(&mut self, addr: &str) {
        let mut command = Command::new(BIN);
        command
            .args(["serve", "--addr", addr, "--data-dir"])
            .arg(&self.data_dir)
            .env_remove("WRF_DIR")
            .env("CLOUDRUN_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(self.data_dir.join("server.log")).expect("log file"));
        for (key, value) in &self.extra_env {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("cloudrun serve starts");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).expect("server prints its address");
        let url = line.trim().strip_prefix("cloudrun listening on ").unwrap_or_else(|| {
            let log = std::fs::read_to_string(self.data_dir.join("server.log")).unwrap_or_default();
            panic!("server did not start: {line}\n{log}")
        });
        self.url = url.to_string();
        self.child = Some(child);
    }

    /// Kills the server process as a crash would (SIGKILL), leaving its data directory.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts a new server process on the same data directory and configuration, on the same port.
    pub fn restart(&mut self) {
        self.kill();
        let addr = self.url.trim_start_matches("http://").to_string();
        std::fs::write(self.data_dir.join("cloudrun.toml"), &self.config).expect("config file");
        self.spawn(&addr);
    }

    pub fn server_log(&self) -> String {
        std::fs::read_to_string(self.data_dir.join("server.log")).unwrap_or_default()
    }

    pub fn create_token(&self, user: &str) -> String {
        let output = Command::new(BIN)
            .args(["token", "create", "--user", user, "--data-dir"])
            .arg(&self.data_dir)
            .output()
            .expect("token create runs");
        assert!(output.status.success(), "token create failed: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).expect("utf-8").trim().to_string()
    }

    pub fn api(&self, path: &str) -> String {
        format!("{}/v1/wrf{path}", self.url)
    }

    pub fn auth(&self) -> String {
        format!("Bearer {}", self.token)
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        json_of(self.client.get(self.api(path)).header("Authorization", self.auth()).send().await.expect("request")).await
    }

    /// POSTs url-encoded fields.
    pub async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> (u16, Value) {
        let request = self.client.post(self.api(path)).header("Authorization", self.auth()).form(fields);
        json_of(request.send().await.expect("request")).await
    }

    pub async fn delete(&self, path: &str) -> (u16, Value) {
        json_of(self.client.delete(self.api(path)).header("Authorization", self.auth()).send().await.expect("request")).await
    }

    /// Creates a run and returns its id.
    pub async fn create_run(&self) -> String {
        let (status, run) = self.post_form("", &[("version", "4.7.1")]).await;
        assert_eq!(status, 200, "{run}");
        run["id"].as_str().expect("id").to_string()
    }

    /// Uploads `bytes` as `name` the way `curl -F file=@name` does.
    pub async fn upload(&self, id: &str, name: &str, bytes: Vec<u8>) -> (u16, Value) {
        let part = reqwest::multipart::Part::bytes(bytes).file_name(name.to_string());
        let form = reqwest::multipart::Form::new().part("file", part);
        let request = self.client.post(self.api(&format!("/{id}/upload"))).header("Authorization", self.auth()).multipart(form);
        json_of(request.send().await.expect("request")).await
    }

    /// Creates a run with the bundled em_quarter_ss inputs, ready to start.
    pub async fn ready_quarter_ss(&self) -> String {
        let id = self.create_run().await;
        let (status, body) = self.upload(&id, "namelist.input", quarter_ss_namelist()).await;
        assert_eq!(status, 200, "{body}");
        let (status, body) = self.upload(&id, "input_sounding", quarter_ss_sounding()).await;
        assert_eq!(status, 200, "{body}");
        id
    }

    /// Polls the run until `done_when` holds, failing after `seconds`.
    pub async fn wait_for(&self, id: &str, seconds: u64, mut done_when: impl FnMut(&Value) -> bool) -> Value {
        let started = Instant::now();
        loop {
            let (status, run) = self.get(&format!("/{id}")).await;
            assert_eq!(status, 200, "{run}");
            if done_when(&run) {
                return run;
            }
            if started.elapsed() > Duration::from_secs(seconds) {
                panic!("timed out after {seconds} s waiting on run {id}: {run}\nserver log:\n{}", self.server_log());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn wait_status(&self, id: &str, seconds: u64, statuses: &[&str]) -> Value {
        self.wait_for(id, seconds, |run| statuses.contains(&run["status"].as_str().unwrap_or(""))).await
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.kill();
    }
}

pub async fn json_of(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, value)
}

/// Returns the message of an error body `{"error": {"status", "message"}}` after checking its shape.
pub fn error_message(status: u16, body: &Value) -> String {
    assert_eq!(body["error"]["status"], status, "error body must repeat the status: {body}");
    body["error"]["message"].as_str().expect("error message").to_string()
}
