//! Input files: direct uploads, namelist checks, the presigned flow and upload_url.

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{error_message, fixture, quarter_ss_namelist, TestServer, FAST_RUNNER};

#[tokio::test]
async fn namelist_upload_makes_run_ready() {
    let server = TestServer::start(FAST_RUNNER);
    let id = server.create_run().await;
    let (status, body) = server.upload(&id, "namelist.input", quarter_ss_namelist()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["fileid"].as_str().expect("fileid").len(), 32);

    let (_, run) = server.get(&format!("/{id}")).await;
    assert_eq!(run["status"], "ready");
    let model = &run["model"];
    assert_eq!(model["domain_shape"], serde_json::json!([[41, 42, 42]]));
    assert_eq!(model["dt"], serde_json::json!([12]));
    assert_eq!(model["dx"], serde_json::json!([2000]));
    assert_eq!(model["output_interval"], serde_json::json!([30]));
    assert_eq!(model["start_time"], serde_json::json!(["0001-01-01_00:00:00"]));
    assert_eq!(model["end_time"], serde_json::json!(["0001-01-01_01:00:00"]));
    assert_eq!(model["version"], "4.7.1");
    assert_eq!(run["required_input_files"], serde_json::json!(["input_sounding", "namelist.input"]));
    let cores: Vec<i64> = run["compute_options"].as_array().expect("options").iter().map(|o| o["cores"].as_i64().expect("cores")).collect();
    assert_eq!(cores, vec![1, 2, 4, 8, 16], "32 cores would split 4 x 8 and leave 5 points per patch");
    let entry = &run["input_files"][0];
    assert_eq!(entry["filename"], "namelist.input");
    assert_eq!(entry["size"], quarter_ss_namelist().len());
    assert_eq!(entry["fileid"], body["fileid"]);
}

#[tokio::test]
async fn real_case_lists_its_inputs() {
    let server = TestServer::start(FAST_RUNNER);
    let id = server.create_run().await;
    let namelist = fixture("namelists/wrf-model_WRF_em_real-v4.7.1.namelist.input");
    let (status, body) = server.upload(&id, "namelist.input", namelist).await;
    assert_eq!(status, 200, "{body}");
    let (_, run) = server.get(&format!("/{id}")).await;
    assert_eq!(run["required_input_files"], serde_json::json!(["namelist.input", "wrfbdy_d01", "wrfinput_d01", "wrfinput_d02"]));
    assert_eq!(run["model"]["dx"], serde_json::json!([15000, 5000]));
    assert_eq!(run["model"]["dt"], serde_json::json!([90, 30]));
}

#[tokio::test]
async fn malformed_namelist_names_line_and_keeps_run() {
    let server = TestServer::start(FAST_RUNNER);
    let id = server.create_run().await;
    let broken = b"&time_control\n run_hours = 1,\n/\n&domains\n time_step = 60\n e_we 42\n/\n".to_vec();
    let (status, body) = server.upload(&id, "namelist.input", broken.clone()).await;
    assert_eq!(status, 400);
    let message = error_message(status, &body);
    assert!(message.contains("line 6"), "{message}");
    assert!(message.contains("`=` after `e_we`"), "{message}");
    let (_, run) = server.get(&format!("/{id}")).await;
    assert_eq!(run["status"], "created");
    assert_eq!(run["input_files"], serde_json::json!([]));

    let (status, _) = server.upload(&id, "namelist.input", quarter_ss_namelist()).await;
    assert_eq!(status, 200);
    let (_, before) = server.get(&format!("/{id}")).await;
    let (status, body) = server.upload(&id, "namelist.input", broken).await;
    assert_eq!(status, 400, "{body}");
    let (_, after) = server.get(&format!("/{id}")).await;
    assert_eq!(before, after, "a rejected namelist changes nothing");
    let output = server.client.get(server.api(&format!("/{id}"))).header("Authorization", server.auth()).send().await.expect("request");
    assert_eq!(output.status(), 200);
}

#[tokio::test]
async fn invalid_values_are_400_with_line() {
    let server = TestServer::start(FAST_RUNNER);
    let id = server.create_run().await;
    let text = b"&time_control\n run_hours = 1\n/\n&domains\n time_step = 60,\n max_dom = 1,\n e_we = 5, e_sn = 5\n/\n".to_vec();
    let (status, body) = server.upload(&id, "namelist.input", text).await;
    assert_eq!(status, 400);
    assert!(error_message(status, &body).contains("10 points"), "{body}");
    let text = b"&time_control\n run_hours = 1\n/\n&domains\n time_step = 'fast'\n/\n".to_vec();
    let (status, body) = server.upload(&id, "namelist.input", text).await;
    assert_eq!(status, 400);
    let message = error_message(status, &body);
    assert!(message.contains("line 5"), "{message}");
    assert!(message.contains("time_step"), "{message}");
}

#[tokio::test]
async fn file_name_with_path_is_400() {
    let server = TestServer::start(FAST_RUNNER);
    let id = server.create_run().await;
    for name in ["../wrfbdy_d01", "dir/wrfbdy_d01", "..\\x"] {
        let (status, body) = server.upload(&id, name, b"data".to_vec()).await;
        assert_eq!(status, 400, "{name}: {body}");
        assert!(error_message(status, &body).contains("contains a path"), "{body}");
    }
    let (_, run) = server.get(&format!("/{id}")).await;
    assert_eq!(run["input_files"], serde_json::json!([]));
}

#[tokio::test]
async fn upload_replaces_same_name() {
    let server = TestServer::start(FAST_RUNNER);
    let id = server.create_run().await;
    let (_, first) = server.upload(&id, "wrfbdy_d01", vec![1u8; 100]).await;
    let (_, second) = server.upload(&id, "wrfbdy_d01", vec![2u8; 300]).await;
    assert_ne!(first["fileid"], second["fileid"]);
    let (_, run) = server.get(&format!("/{id}")).await;
    let files = run["input_files"].as_array().expect("files");
    assert_eq!(files.len(), 1);
    assert_eq!(files[0]["size"], 300);
    assert_eq!(files[0]["fileid"], second["fileid"]);
}

#[tokio::test]
async fn upload_without_file_field_is_400() {
    let server = TestServer::start(FAST_RUNNER);
    let id = server.create_run().await;
    let form = reqwest::multipart::Form::new().text("other", "x");
    let response = server.client.post(server.api(&format!("/{id}/upload"))).header("Authorization", server.auth()).multipart(form).send().await.expect("request");
    let (status, body) = crate::helpers::json_of(response).await;
    assert_eq!(status, 400);
    assert!(error_message(status, &body).contains("`file`"), "{body}");
}

#[tokio::test]
async fn upload_after_start_is_409() {
    let server = TestServer::start("[runner]\npoll_milliseconds = 100\ndry_run_seconds = 30.0\n");
    let id = server.ready_quarter_ss().await;
    let (status, _) = server.post_form(&format!("/{id}/start"), &[("cores", "1")]).await;
    assert_eq!(status, 200);
    let (status, body) = server.upload(&id, "extra.txt", b"x".to_vec()).await;
    assert_eq!(status, 409);
    assert!(error_message(status, &body).contains("before the run is started"), "{body}");
    server.post_form(&format!("/{id}/stop"), &[]).await;
}

async fn request_presigned(server: &TestServer, id: &str, name: &str, size: usize) -> (u16, Value) {
    let request = server
        .client
        .post(server.api(&format!("/{id}/upload")))
        .header("Authorization", server.auth())
        .json(&serde_json::json!({"filename": name, "size": size}));
    crate::helpers::json_of(request.send().await.expect("request")).await
}

async fn complete(server: &TestServer, answer: &Value, parts: Value) -> (u16, Value) {
    let url = answer["complete_url"].as_str().expect("complete_url");
    let request = server.client.post(url).header("Authorization", server.auth()).json(&serde_json::json!({"parts": parts}));
    crate::helpers::json_of(request.send().await.expect("request")).await
}

#[tokio::test]
async fn presigned_upload_single_put() {
    let server = TestServer::start(FAST_RUNNER);
    let id = server.create_run().await;
    let bytes: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
    let (status, answer) = request_presigned(&server, &id, "wrfbdy_d01", bytes.len()).await;
    assert_eq!(status, 200, "{answer}");
    let url = answer["upload_url"].as_str().expect("single upload URL");
    assert!(url.starts_with(&server.url), "{url}");

    let (_, run) = server.get(&format!("/{id}")).await;
    assert_eq!(run["input_files"], serde_json::json!([]), "nothing appears before completion");
    let (status, body) = complete(&server, &answer, serde_json::json!([])).await;
    assert_eq!(status, 400, "completion before the PUT: {body}");

    let response = server.client.put(url).body(bytes.clone()).send().await.expect("put");
    assert_eq!(response.status(), 200);
    let (status, body) = complete(&server, &answer, serde_json::json!([])).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["fileid"], answer["fileid"]);
    let (status, again) = complete(&server, &answer, serde_json::json!([])).await;
    assert_eq!(status, 200, "a repeated completion succeeds: {again}");
    assert_eq!(again["fileid"], answer["fileid"]);
    let (_, run) = server.get(&format!("/{id}")).await;
    assert_eq!(run["input_files"][0]["size"], 5000);
    assert_eq!(run["input_files"][0]["state"], "complete");
    let stored = std::fs::read(server.data_dir.join(format!("files/{id}/inputs/wrfbdy_d01"))).expect("stored file");
    assert_eq!(stored, bytes);
}

#[tokio::test]
async fn signed_url_checks_hold() {
    let server = TestServer::start(FAST_RUNNER);
    let id = server.create_run().await;
    let (_, answer) = request_presigned(&server, &id, "wrfbdy_d01", 100).await;
    let url = answer["upload_url"].as_str().expect("url").to_string();

    let tampered = url.replace("size=100", "size=1000");
    let response = server.client.put(&tampered).body(vec![0u8; 1000]).send().await.expect("put");
    assert_eq!(response.status(), 401, "a changed size breaks the signature");
    let other_run = server.create_run().await;
    let moved = url.replace(&id, &other_run);
    assert_eq!(server.client.put(&moved).body(vec![0u8; 100]).send().await.expect("put").status(), 401);
    let unsigned = url.split("&signature=").next().expect("prefix").to_string();
    assert_eq!(server.client.put(&unsigned).body(vec![0u8; 100]).send().await.expect("put").status(), 401);
    assert_eq!(server.client.get(&url).send().await.expect("get").status(), 405, "upload URLs take PUT only");

    let response = server.client.put(&url).body(vec![0u8; 60]).send().await.expect("short put");
    assert_eq!(response.status(), 400, "a short body does not count as the file");
    let (status, _) = complete(&server, &answer, serde_json::json!([])).await;
    assert_eq!(status, 400);
    let (_, run) = server.get(&format!("/{id}")).await;
    assert_eq!(run["input_files"], serde_json::json!([]));
}

#[tokio::test]
async fn expired_upload_url_rejected() {
    let server = TestServer::start("[uploads]\npresigned_url_seconds = 0\n");
    let id = server.create_run().await;
    let (_, answer) = request_presigned(&server, &id, "wrfbdy_d01", 10).await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let response = server.client.put(answer["upload_url"].as_str().expect("url")).body(vec![0u8; 10]).send().await.expect("put");
    let (status, body) = crate::helpers::json_of(response).await;
    assert_eq!(status, 401);
    assert!(error_message(status, &body).contains("expired"), "{body}");
    let (status, body) = complete(&server, &answer, serde_json::json!([])).await;
    assert_eq!(status, 400);
    assert!(error_message(status, &body).contains("expired"), "{body}");
}

#[tokio::test]
async fn presigned_upload_in_parts() {
    let server = TestServer::start("[uploads]\nmultipart_threshold_bytes = 1000\npart_bytes = 400\n");
    let id = server.create_run().await;
    let bytes: Vec<u8> = (0..1100u32).map(|i| (i % 256) as u8).collect();
    let (status, answer) = request_presigned(&server, &id, "wrfinput_d01", bytes.len()).await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer["upload_url"].is_null());
    let parts = answer["parts"].as_array().expect("parts");
    assert_eq!(parts.iter().map(|p| p["size"].as_u64().expect("size")).collect::<Vec<_>>(), vec![400, 400, 300]);

    let mut completed = Vec::new();
    let mut offset = 0usize;
    // Parts may arrive in any order.
    for part in parts.iter().rev() {
        let size = part["size"].as_u64().expect("size") as usize;
        let number = part["part_number"].as_u64().expect("number") as usize;
        let start = (number - 1) * 400;
        let response = server.client.put(part["url"].as_str().expect("url")).body(bytes[start..start + size].to_vec()).send().await.expect("put");
        assert_eq!(response.status(), 200);
        let etag = response.headers()["etag"].to_str().expect("etag").to_string();
        completed.push(serde_json::json!({"part_number": number, "etag": etag}));
        offset += size;
    }
    assert_eq!(offset, bytes.len());
    let (status, body) = complete(&server, &answer, Value::Array(completed)).await;
    assert_eq!(status, 200, "{body}");
    let stored = std::fs::read(server.data_dir.join(format!("files/{id}/inputs/wrfinput_d01"))).expect("stored");
    assert_eq!(stored, bytes);
}

#[tokio::test]
async fn namelist_only_direct() {
    let server = TestServer::start(FAST_RUNNER);
    let id = server.create_run().await;
    let (status, body) = request_presigned(&server, &id, "namelist.input", 100).await;
    assert_eq!(status, 400);
    assert!(error_message(status, &body).contains("directly"), "{body}");
}

/// Starts an HTTP server on 127.0.0.1 for one test. It serves `/wrfbdy_d01` (the body),
/// `/redirect?to=URL` (a 302) and 404 for anything else.
async fn serve_files(body: Vec<u8>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else { return };
            let body = body.clone();
            tokio::spawn(async move {
                let mut request = vec![0u8; 4096];
                let read = socket.read(&mut request).await.unwrap_or(0);
                let line = String::from_utf8_lossy(&request[..read]).lines().next().unwrap_or("").to_string();
                let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
                let head = if path == "/wrfbdy_d01" {
                    format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len())
                } else if let Some(target) = path.strip_prefix("/redirect?to=") {
                    format!("HTTP/1.1 302 Found\r\nLocation: {target}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                } else {
                    "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_string()
                };
                let _ = socket.write_all(head.as_bytes()).await;
                if path == "/wrfbdy_d01" {
                    let _ = socket.write_all(&body).await;
                }
            });
        }
    });
    format!("http://{address}")
}

async fn upload_url(server: &TestServer, id: &str, url: &str) -> (u16, Value) {
    server.post_form(&format!("/{id}/upload_url"), &[("url", url)]).await
}

async fn settled_entry(server: &TestServer, id: &str, fileid: &Value) -> Value {
    let run = server
        .wait_for(id, 20, |run| {
            run["input_files"].as_array().into_iter().flatten().any(|f| &f["fileid"] == fileid && f["state"] != "pending")
        })
        .await;
    run["input_files"].as_array().expect("files").iter().find(|f| &f["fileid"] == fileid).expect("entry").clone()
}

#[tokio::test]
async fn upload_url_fetches_from_allowed_server() {
    let server = TestServer::start("[upload_url]\nallowed_networks = [\"127.0.0.1/32\"]\n");
    let remote = serve_files(vec![7u8; 3000]).await;
    let id = server.create_run().await;
    let (status, body) = upload_url(&server, &id, &format!("{remote}/wrfbdy_d01")).await;
    assert_eq!(status, 200, "{body}");
    let entry = settled_entry(&server, &id, &body["fileid"]).await;
    assert_eq!(entry["state"], "complete", "{entry}");
    assert_eq!(entry["filename"], "wrfbdy_d01");
    assert_eq!(entry["size"], 3000);

    let (status, body) = upload_url(&server, &id, &format!("{remote}/redirect?to={remote}/wrfbdy_d01")).await;
    assert_eq!(status, 200);
    let entry = settled_entry(&server, &id, &body["fileid"]).await;
    assert_eq!(entry["state"], "complete", "an allowed redirect is followed: {entry}");

    let (status, body) = upload_url(&server, &id, &format!("{remote}/missing/wrfinput_d01")).await;
    assert_eq!(status, 200);
    let entry = settled_entry(&server, &id, &body["fileid"]).await;
    assert_eq!(entry["state"], "failed");
    assert!(entry["error"].as_str().expect("error").contains("404"), "{entry}");
}

#[tokio::test]
async fn upload_url_rejects_loopback_by_default() {
    let server = TestServer::start(FAST_RUNNER);
    let remote = serve_files(vec![7u8; 10]).await;
    let id = server.create_run().await;
    let (status, body) = upload_url(&server, &id, &format!("{remote}/wrfbdy_d01")).await;
    assert_eq!(status, 200);
    let entry = settled_entry(&server, &id, &body["fileid"]).await;
    assert_eq!(entry["state"], "failed");
    assert!(entry["error"].as_str().expect("error").contains("loopback"), "{entry}");
    assert!(!server.data_dir.join(format!("files/{id}/inputs/wrfbdy_d01")).exists());
}

#[tokio::test]
async fn upload_url_checks_redirect_targets() {
    let server = TestServer::start("[upload_url]\nallowed_networks = [\"127.0.0.1/32\"]\n");
    let remote = serve_files(vec![7u8; 10]).await;
    let id = server.create_run().await;
    // The redirect target is refused by the address check before any connection is made.
    let (status, body) = upload_url(&server, &id, &format!("{remote}/redirect?to=http://[::1]:9/wrfbdy_d01")).await;
    assert_eq!(status, 200);
    let entry = settled_entry(&server, &id, &body["fileid"]).await;
    assert_eq!(entry["state"], "failed");
    assert!(entry["error"].as_str().expect("error").contains("loopback"), "{entry}");
}

#[tokio::test]
async fn upload_url_caps_size() {
    let server = TestServer::start("[upload_url]\nallowed_networks = [\"127.0.0.1/32\"]\nmax_bytes = 1000\n");
    let remote = serve_files(vec![7u8; 5000]).await;
    let id = server.create_run().await;
    let (_, body) = upload_url(&server, &id, &format!("{remote}/wrfbdy_d01")).await;
    let entry = settled_entry(&server, &id, &body["fileid"]).await;
    assert_eq!(entry["state"], "failed");
    assert!(entry["error"].as_str().expect("error").contains("limit"), "{entry}");
}

#[tokio::test]
async fn upload_url_rejects_bad_urls() {
    let server = TestServer::start(FAST_RUNNER);
    let id = server.create_run().await;
    for (url, expected) in [
        ("ftp://example.com/wrfbdy_d01", "scheme"),
        ("file:///etc/passwd", "scheme"),
        ("not a url", "invalid URL"),
        ("http://user:secret@example.com/wrfbdy_d01", "password"),
    ] {
        let (status, body) = upload_url(&server, &id, url).await;
        assert_eq!(status, 400, "{url}: {body}");
        assert!(error_message(status, &body).contains(expected), "{url}: {body}");
    }
    let (status, _) = server.post_form(&format!("/{id}/upload_url"), &[]).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn huge_upload_keeps_part_count() {
    let server = TestServer::start("[uploads]\nmultipart_threshold_bytes = 1000\npart_bytes = 400\n");
    let id = server.create_run().await;
    let size = 1_000_000_000_000usize;
    let (status, answer) = request_presigned(&server, &id, "wrfbdy_d01", size).await;
    assert_eq!(status, 200, "{answer}");
    let parts = answer["parts"].as_array().expect("parts");
    assert_eq!(parts.len(), 10_000, "parts grow instead of passing 10,000");
    let total: u64 = parts.iter().map(|p| p["size"].as_u64().expect("size")).sum();
    assert_eq!(total, size as u64);
}

#[tokio::test]
async fn interrupted_upload_leaves_nothing() {
    let server = TestServer::start(FAST_RUNNER);
    let id = server.create_run().await;
    let address = server.url.trim_start_matches("http://").to_string();
    let boundary = "cloudrunboundary";
    let head = format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"wrfbdy_d01\"\r\n\r\n");
    let request = format!(
        "POST /v1/wrf/{id}/upload HTTP/1.1\r\nHost: {address}\r\nAuthorization: {}\r\n\
         Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: 1000000\r\n\r\n{head}",
        server.auth()
    );
    let mut socket = tokio::net::TcpStream::connect(&address).await.expect("connect");
    socket.write_all(request.as_bytes()).await.expect("headers");
    socket.write_all(&vec![9u8; 50_000]).await.expect("part of the body");
    drop(socket);

    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let (_, run) = server.get(&format!("/{id}")).await;
    assert_eq!(run["input_files"], serde_json::json!([]), "a cut upload is not an input");
    assert!(!server.data_dir.join(format!("files/{id}/inputs/wrfbdy_d01")).exists());
    let leftovers = std::fs::read_dir(server.data_dir.join(format!("files/{id}/tmp"))).map(|d| d.count()).unwrap_or(0);
    assert_eq!(leftovers, 0, "the partial temporary file is removed");
}
