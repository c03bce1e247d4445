//! `upload_url` end to end: the endpoint queues on SQS, the fetch worker downloads from an HTTP
//! server the test runs on 127.0.0.1, and the file shows in `input_files`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use cloudrun_core::config::Config;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::events::run_transfers;
use crate::helpers::{namelist, file_part, sounding, test_config, Payload, Route, Stack};

/// An HTTP server on 127.0.0.1 with `/input_sounding`, `/moved` (a redirect to it) and 404 otherwise.
pub struct FileServer {
    pub base: String,
    pub requests: Arc<AtomicUsize>,
}

impl FileServer {
    pub async fn start(content: Vec<u8>) -> FileServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        let requests = Arc::new(AtomicUsize::new(0));
        let counter = requests.clone();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                let content = content.clone();
                tokio::spawn(async move {
                    let mut buffer = vec![0u8; 8192];
                    let read = socket.read(&mut buffer).await.unwrap_or(0);
                    let head = String::from_utf8_lossy(&buffer[..read]).to_string();
                    let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
                    let response = match path.as_str() {
                        "/input_sounding" => {
                            let mut bytes = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", content.len()).into_bytes();
                            bytes.extend_from_slice(&content);
                            bytes
                        }
                        "/moved" => b"HTTP/1.1 302 Found\r\nLocation: /input_sounding\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec(),
                        _ => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec(),
                    };
                    let _ = socket.write_all(&response).await;
                    let _ = socket.shutdown().await;
                });
            }
        });
        FileServer { base, requests }
    }
}

async fn created_with_namelist(stack: &Stack) -> String {
    let created = stack.call(Route::Create, "", Payload::Form("version=4.7.1".into())).await;
    let id = created.body["id"].as_str().expect("id").to_string();
    let reply = stack.call(Route::Upload, &id, file_part("namelist.input", namelist())).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    id
}

fn input<'a>(run: &'a Value, name: &str) -> &'a Value {
    let files = run["input_files"].as_array().expect("input_files");
    files.iter().find(|f| f["filename"] == name).unwrap_or_else(|| panic!("{name} not in {files:?}"))
}

#[tokio::test]
async fn upload_url_follows_redirect() {
    let stack = Stack::new().await;
    let server = FileServer::start(sounding()).await;
    let id = created_with_namelist(&stack).await;

    let form = format!("url={}/moved&filename=input_sounding", server.base);
    let reply = stack.call(Route::UploadUrl, &id, Payload::Form(form)).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    let queued = stack.call(Route::Get, &id, Payload::Empty).await.body;
    assert_eq!(input(&queued, "input_sounding")["state"], "pending");

    assert_eq!(run_transfers(&stack).await, 1);
    let run = stack.call(Route::Get, &id, Payload::Empty).await.body;
    let file = input(&run, "input_sounding");
    assert_eq!(file["state"], "complete", "{file}");
    assert_eq!(file["size"], sounding().len() as u64);
    assert_eq!(file["fileid"], reply.body["fileid"]);
    assert_eq!(server.requests.load(std::sync::atomic::Ordering::SeqCst), 2, "one request per hop");
}

#[tokio::test]
async fn upload_url_missing_file_fails() {
    let stack = Stack::new().await;
    let server = FileServer::start(sounding()).await;
    let id = created_with_namelist(&stack).await;
    let form = format!("url={}/absent/input_sounding", server.base);
    assert_eq!(stack.call(Route::UploadUrl, &id, Payload::Form(form)).await.status, 200);
    run_transfers(&stack).await;
    let run = stack.call(Route::Get, &id, Payload::Empty).await.body;
    let file = input(&run, "input_sounding");
    assert_eq!(file["state"], "failed");
    assert!(file["error"].as_str().unwrap_or_default().contains("404"), "{file}");
}

#[tokio::test]
async fn upload_url_loopback_rejected() {
    let stack = Stack::with_config(Config { upload_url: Config::default().upload_url, ..test_config() }).await;
    let server = FileServer::start(sounding()).await;
    let id = created_with_namelist(&stack).await;
    let form = format!("url={}/input_sounding", server.base);
    assert_eq!(stack.call(Route::UploadUrl, &id, Payload::Form(form)).await.status, 200);
    run_transfers(&stack).await;
    let run = stack.call(Route::Get, &id, Payload::Empty).await.body;
    let file = input(&run, "input_sounding");
    assert_eq!(file["state"], "failed");
    assert!(file["error"].as_str().unwrap_or_default().contains("loopback"), "{file}");
    assert_eq!(server.requests.load(std::sync::atomic::Ordering::SeqCst), 0, "no connection was made");
}
