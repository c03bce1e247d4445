//! Runs as resources: authentication, ownership, create, list, and the status rules.

use crate::helpers::{error_message, TestServer, FAST_RUNNER};

#[tokio::test]
async fn missing_or_wrong_token_is_401() {
    let server = TestServer::start(FAST_RUNNER);
    let response = server.client.get(server.api("")).send().await.expect("request");
    assert_eq!(response.status(), 401);
    let (status, body) = crate::helpers::json_of(response).await;
    assert!(error_message(status, &body).contains("Authorization"), "{body}");

    let response = server.client.get(server.api("")).header("Authorization", "Bearer crt_nope").send().await.expect("request");
    assert_eq!(response.status(), 401);
    let response = server.client.get(server.api("")).header("Authorization", "Basic abc").send().await.expect("request");
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn revoked_token_is_401() {
    let server = TestServer::start(FAST_RUNNER);
    let token = server.create_token("carol");
    let output = std::process::Command::new(crate::helpers::BIN)
        .args(["token", "revoke", "--token", &token, "--data-dir"])
        .arg(&server.data_dir)
        .output()
        .expect("revoke runs");
    assert!(output.status.success());
    let response = server.client.get(server.api("")).header("Authorization", format!("Bearer {token}")).send().await.expect("request");
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn create_returns_documented_object() {
    let server = TestServer::start(FAST_RUNNER);
    let (status, run) = server.post_form("", &[("version", "3.9")]).await;
    assert_eq!(status, 200, "{run}");
    assert_eq!(run["status"], "created");
    assert_eq!(run["id"].as_str().expect("id").len(), 32);
    assert_eq!(run["required_input_files"], serde_json::json!(["namelist.input"]));
    for field in ["cores", "error", "percent_complete", "remaining_time", "time_started", "time_stopped", "model"] {
        assert!(run[field].is_null(), "{field} must be null before start: {run}");
    }
    assert_eq!(run["compute_options"], serde_json::json!([]));
    assert_eq!(run["output_size"], 0);
    let created = run["time_created"].as_str().expect("time_created");
    assert_eq!(created.len(), 19);
    assert_eq!(&created[10..11], "_");
}

#[tokio::test]
async fn create_accepts_multipart_and_json() {
    let server = TestServer::start(FAST_RUNNER);
    let form = reqwest::multipart::Form::new().text("version", "3.8.1");
    let response = server.client.post(server.api("")).header("Authorization", server.auth()).multipart(form).send().await.expect("request");
    let (status, run) = crate::helpers::json_of(response).await;
    assert_eq!(status, 200, "{run}");
    let response = server
        .client
        .post(server.api(""))
        .header("Authorization", server.auth())
        .json(&serde_json::json!({"version": "4.7.1", "model": "wrf"}))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn unsupported_version_lists_supported() {
    let server = TestServer::start(FAST_RUNNER);
    let (status, body) = server.post_form("", &[("version", "2.0")]).await;
    assert_eq!(status, 400);
    let message = error_message(status, &body);
    assert!(message.contains("`2.0`"), "{message}");
    for version in ["3.8.1", "3.9", "4.7.1"] {
        assert!(message.contains(version), "{message}");
    }
    let (status, _) = server.post_form("", &[("model", "mpas")]).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn list_is_own_runs_newest_first() {
    let server = TestServer::start(FAST_RUNNER);
    let first = server.create_run().await;
    let second = server.create_run().await;
    let (status, runs) = server.get("").await;
    assert_eq!(status, 200);
    let ids: Vec<&str> = runs.as_array().expect("array").iter().map(|r| r["id"].as_str().expect("id")).collect();
    assert_eq!(ids, vec![second.as_str(), first.as_str()]);

    let bob = server.create_token("bob");
    let response = server.client.get(server.api("")).header("Authorization", format!("Bearer {bob}")).send().await.expect("request");
    let (_, runs) = crate::helpers::json_of(response).await;
    assert_eq!(runs, serde_json::json!([]));
}

#[tokio::test]
async fn foreign_run_is_404_like_missing() {
    let server = TestServer::start(FAST_RUNNER);
    let id = server.create_run().await;
    let bob = format!("Bearer {}", server.create_token("bob"));
    for (method, path) in [("GET", format!("/{id}")), ("DELETE", format!("/{id}")), ("POST", format!("/{id}/stop")), ("POST", format!("/{id}/start"))] {
        let request = match method {
            "GET" => server.client.get(server.api(&path)),
            "DELETE" => server.client.delete(server.api(&path)),
            _ => server.client.post(server.api(&path)),
        };
        let (status, body) = crate::helpers::json_of(request.header("Authorization", &bob).send().await.expect("request")).await;
        assert_eq!(status, 404, "{method} {path}: {body}");
        assert_eq!(error_message(status, &body), format!("run `{id}` not found"));
    }
    let (status, body) = server.get("/0123456789abcdef0123456789abcdef").await;
    assert_eq!(error_message(status, &body), "run `0123456789abcdef0123456789abcdef` not found");
    let (status, _) = server.get("/not-an-id").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn start_before_namelist_is_409() {
    let server = TestServer::start(FAST_RUNNER);
    let id = server.create_run().await;
    let (status, body) = server.post_form(&format!("/{id}/start"), &[("cores", "1")]).await;
    assert_eq!(status, 409);
    assert!(error_message(status, &body).contains("namelist.input"), "{body}");
}

#[tokio::test]
async fn start_with_missing_inputs_names_them() {
    let server = TestServer::start(FAST_RUNNER);
    let id = server.create_run().await;
    let (status, _) = server.upload(&id, "namelist.input", crate::helpers::quarter_ss_namelist()).await;
    assert_eq!(status, 200);
    let (status, body) = server.post_form(&format!("/{id}/start"), &[("cores", "2")]).await;
    assert_eq!(status, 409);
    let message = error_message(status, &body);
    assert!(message.contains("input_sounding"), "{message}");
    let (_, run) = server.get(&format!("/{id}")).await;
    assert_eq!(run["status"], "ready", "a rejected start leaves the run as it was");
}

#[tokio::test]
async fn start_with_invalid_cores_lists_options() {
    let server = TestServer::start(FAST_RUNNER);
    let id = server.ready_quarter_ss().await;
    for cores in ["32", "3", "many", ""] {
        let (status, body) = server.post_form(&format!("/{id}/start"), &[("cores", cores)]).await;
        assert_eq!(status, 400, "cores={cores}: {body}");
        let message = error_message(status, &body);
        assert!(message.contains("1, 2, 4, 8, 16"), "cores={cores}: {message}");
    }
    let (status, body) = server.post_form(&format!("/{id}/start"), &[]).await;
    assert_eq!(status, 400);
    assert!(error_message(status, &body).contains("missing `cores`"));
}

#[tokio::test]
async fn stop_and_delete_respect_status() {
    let server = TestServer::start(FAST_RUNNER);
    let id = server.ready_quarter_ss().await;
    let (status, body) = server.post_form(&format!("/{id}/stop"), &[]).await;
    assert_eq!(status, 409);
    assert!(error_message(status, &body).contains("`ready`"), "{body}");

    let slow = TestServer::start("[runner]\npoll_milliseconds = 100\ndry_run_seconds = 30.0\n");
    let id = slow.ready_quarter_ss().await;
    let (status, _) = slow.post_form(&format!("/{id}/start"), &[("cores", "1")]).await;
    assert_eq!(status, 200);
    let (status, body) = slow.delete(&format!("/{id}")).await;
    assert_eq!(status, 409);
    assert!(error_message(status, &body).contains("stop it"), "{body}");
    let (status, body) = slow.post_form(&format!("/{id}/start"), &[("cores", "1")]).await;
    assert_eq!(status, 409, "a second start is rejected: {body}");
    let (status, run) = slow.post_form(&format!("/{id}/stop"), &[]).await;
    assert_eq!(status, 200, "{run}");
    assert_eq!(run["status"], "stopped");
    let (status, body) = slow.post_form(&format!("/{id}/stop"), &[]).await;
    assert_eq!(status, 409, "{body}");
}

#[tokio::test]
async fn unknown_endpoint_is_json_404() {
    let server = TestServer::start(FAST_RUNNER);
    let response = server.client.get(format!("{}/v2/things", server.url)).send().await.expect("request");
    let (status, body) = crate::helpers::json_of(response).await;
    assert_eq!(status, 404);
    assert!(error_message(status, &body).contains("/v1/wrf"));
}
