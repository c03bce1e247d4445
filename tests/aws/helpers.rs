//! A stack per test: its own deployment in moto, a user with a token, and API calls built from
//! the API Gateway event fixture under `infra/events/`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use cloudrun_aws::clients::Clients;
use cloudrun_aws::deployment::Deployment;
use cloudrun_aws::emulator::Emulator;
use cloudrun_aws::s3::S3Options;
use cloudrun_core::config::Config;
use cloudrun_core::run::{Id, Run};
use cloudrun_core::ports::RunStore;
use cloudrun_lambda::authorizer::{authorize, TokenAuthorizerEvent};
use cloudrun_lambda::endpoints;
use serde_json::{json, Value};

pub const MIB: u64 = 1024 * 1024;
const API_EVENT: &str = include_str!("../../infra/events/apigw-get-run.json");
const AUTHORIZER_EVENT: &str = include_str!("../../infra/events/authorizer-token.json");

/// Small multipart sizes, so that the tests cross every threshold with a few MiB, and the
/// loopback address allowed for `upload_url`, where the tests serve their remote files.
pub fn test_config() -> Config {
    let mut config = Config::default();
    config.uploads.multipart_threshold_bytes = 6 * MIB;
    config.uploads.part_bytes = 5 * MIB;
    config.upload_url.allowed_networks = vec!["127.0.0.1/32".into()];
    config
}

pub fn repo_file(relative: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(relative);
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

pub fn namelist() -> Vec<u8> {
    repo_file("examples/em_quarter_ss/namelist.input")
}

pub fn sounding() -> Vec<u8> {
    repo_file("examples/em_quarter_ss/input_sounding")
}

/// An API endpoint and its path parameters beyond the run id.
#[derive(Debug, Clone)]
pub enum Route {
    List,
    Get,
    Create,
    Upload,
    Complete(String),
    UploadUrl,
    Start,
    Stop,
    Delete,
    Output(String),
}

/// A request body as a client sends it.
pub enum Payload {
    Empty,
    Form(String),
    Json(Value),
    /// Multipart parts: field name, file name, bytes.
    Multipart(Vec<(String, Option<String>, Vec<u8>)>),
}

/// An HTTP response from a handler.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
    pub location: Option<String>,
}

pub struct Stack {
    pub deployment: Deployment,
    pub clients: Clients,
    pub token: String,
}

impl Stack {
    pub async fn new() -> Stack {
        Self::with_config(test_config()).await
    }

    pub async fn with_config(config: Config) -> Stack {
        let emulator = Emulator::from_env().unwrap_or_else(|error| panic!("{error}"));
        Self::on(&emulator, config).await
    }

    /// Creates a deployment named after a random prefix in `emulator`, and a token for alice.
    pub async fn on(emulator: &Emulator, config: Config) -> Stack {
        let prefix = format!("e{}", hex::encode(rand::random::<[u8; 6]>()));
        let (settings, clients) = emulator.create_deployment(&prefix, config).await.unwrap_or_else(|e| panic!("{e}"));
        let mut options = S3Options::from_config(&settings.config.uploads);
        options.stream_part_bytes = 5 * MIB;
        let deployment = Deployment::with_file_options(settings, &clients, Some(options));
        let token = deployment.store.create_token("alice").await.expect("token");
        Stack { deployment, clients, token }
    }

    /// Runs the authorizer function's handler for `token`, as API Gateway does before each call.
    pub async fn authorize(&self, token: &str) -> Result<Value, String> {
        let mut event: Value = serde_json::from_str(AUTHORIZER_EVENT).expect("fixture");
        event["authorizationToken"] = json!(format!("Bearer {token}"));
        let event: TokenAuthorizerEvent = serde_json::from_value(event).expect("authorizer event");
        let response = authorize(&self.deployment.store, event).await.map_err(|e| e.to_string())?;
        let mut fields = response.context.clone();
        fields["principalId"] = json!(response.principal_id);
        Ok(fields)
    }

    /// Calls an endpoint as alice.
    pub async fn call(&self, route: Route, id: &str, payload: Payload) -> Reply {
        let authorizer = self.authorize(&self.token).await.expect("alice's token is valid");
        self.call_with(route, id, payload, Some(authorizer)).await
    }

    /// Calls an endpoint with the authorizer context API Gateway would pass, if any.
    pub async fn call_with(&self, route: Route, id: &str, payload: Payload, authorizer: Option<Value>) -> Reply {
        let event = api_event(&route, id, payload, authorizer);
        let request = lambda_http::request::from_str(&event.to_string()).expect("a valid API Gateway event");
        let services = &self.deployment.services;
        let response = match route {
            Route::List => endpoints::list(services, request).await,
            Route::Get => endpoints::get(services, request).await,
            Route::Create => endpoints::create(services, request).await,
            Route::Upload | Route::Complete(_) => endpoints::upload(services, request).await,
            Route::UploadUrl => endpoints::upload_url(services, request).await,
            Route::Start => endpoints::start(services, request).await,
            Route::Stop => endpoints::stop(services, request).await,
            Route::Delete => endpoints::delete(services, request).await,
            Route::Output(_) => endpoints::output(services, request).await,
        };
        let response = response.expect("handlers always return a response");
        let location = response.headers().get("location").map(|v| v.to_str().expect("ASCII").to_string());
        let text = match response.body() {
            lambda_http::Body::Text(text) => text.clone(),
            lambda_http::Body::Binary(bytes) => String::from_utf8_lossy(bytes).into_owned(),
            _ => String::new(),
        };
        let body = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).expect("a JSON body") };
        Reply { status: response.status().as_u16(), body, location }
    }

    pub async fn stored(&self, id: &str) -> Run {
        let id: Id = id.parse().expect("run id");
        self.deployment.store.get(&id).await.expect("get").expect("run exists")
    }

    /// Creates a run and uploads the quarter_ss namelist and sounding, so that it is ready to start.
    pub async fn ready_run(&self) -> String {
        let created = self.call(Route::Create, "", Payload::Form("version=4.7.1".into())).await;
        assert_eq!(created.status, 200, "{:?}", created.body);
        let id = created.body["id"].as_str().expect("id").to_string();
        for (name, bytes) in [("namelist.input", namelist()), ("input_sounding", sounding())] {
            let reply = self.call(Route::Upload, &id, file_part(name, bytes)).await;
            assert_eq!(reply.status, 200, "{name}: {:?}", reply.body);
        }
        id
    }
}

pub fn file_part(name: &str, bytes: Vec<u8>) -> Payload {
    Payload::Multipart(vec![("file".into(), Some(name.into()), bytes)])
}

/// Builds a REST API proxy event from the fixture for `route`.
fn api_event(route: &Route, id: &str, payload: Payload, authorizer: Option<Value>) -> Value {
    let (method, resource, mut parameters) = match route {
        Route::List => ("GET", "/v1/wrf", json!(null)),
        Route::Create => ("POST", "/v1/wrf", json!(null)),
        Route::Get => ("GET", "/v1/wrf/{id}", json!({"id": id})),
        Route::Delete => ("DELETE", "/v1/wrf/{id}", json!({"id": id})),
        Route::Upload => ("POST", "/v1/wrf/{id}/upload", json!({"id": id})),
        Route::Complete(fileid) => ("POST", "/v1/wrf/{id}/upload/{fileid}/complete", json!({"id": id, "fileid": fileid})),
        Route::UploadUrl => ("POST", "/v1/wrf/{id}/upload_url", json!({"id": id})),
        Route::Start => ("POST", "/v1/wrf/{id}/start", json!({"id": id})),
        Route::Stop => ("POST", "/v1/wrf/{id}/stop", json!({"id": id})),
        Route::Output(filename) => ("GET", "/v1/wrf/{id}/output/{filename}", json!({"id": id, "filename": filename})),
    };
    let mut path = resource.to_string();
    if let Some(map) = parameters.as_object_mut() {
        for (name, value) in map.iter() {
            path = path.replace(&format!("{{{name}}}"), value.as_str().unwrap_or_default());
        }
    }

    let mut event: Value = serde_json::from_str(API_EVENT).expect("fixture");
    event["resource"] = json!(resource);
    event["path"] = json!(path);
    event["httpMethod"] = json!(method);
    event["pathParameters"] = parameters;
    event["requestContext"]["resourcePath"] = json!(resource);
    event["requestContext"]["httpMethod"] = json!(method);
    event["requestContext"]["path"] = json!(format!("/prod{path}"));
    event["requestContext"]["requestId"] = json!(hex::encode(rand::random::<[u8; 16]>()));
    event["requestContext"]["authorizer"] = authorizer.unwrap_or(Value::Null);

    let (content_type, body, binary) = encode(payload);
    if let Some(content_type) = content_type {
        event["headers"]["Content-Type"] = json!(content_type);
        event["multiValueHeaders"]["Content-Type"] = json!([content_type]);
    }
    event["body"] = body.map(Value::String).unwrap_or(Value::Null);
    event["isBase64Encoded"] = json!(binary);
    event
}

/// Content type, body text and whether API Gateway would base64-encode it (multipart is a binary media type).
fn encode(payload: Payload) -> (Option<String>, Option<String>, bool) {
    match payload {
        Payload::Empty => (None, None, false),
        Payload::Form(text) => (Some("application/x-www-form-urlencoded".into()), Some(text), false),
        Payload::Json(value) => (Some("application/json".into()), Some(value.to_string()), false),
        Payload::Multipart(parts) => {
            let boundary = "------------------------cloudrun0123456789";
            let mut body = Vec::new();
            for (name, filename, bytes) in parts {
                body.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"").as_bytes());
                if let Some(filename) = filename {
                    body.extend_from_slice(format!("; filename=\"{filename}\"\r\nContent-Type: application/octet-stream").as_bytes());
                }
                body.extend_from_slice(b"\r\n\r\n");
                body.extend_from_slice(&bytes);
                body.extend_from_slice(b"\r\n");
            }
            body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
            let encoded = base64::engine::general_purpose::STANDARD.encode(body);
            (Some(format!("multipart/form-data; boundary={boundary}")), Some(encoded), true)
        }
    }
}

/// A Lambda context whose deadline is `seconds` away.
pub fn lambda_context(seconds: u64) -> lambda_runtime::Context {
    let mut context = lambda_runtime::Context::default();
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    context.deadline = (now + Duration::from_secs(seconds)).as_millis() as u64;
    context.request_id = hex::encode(rand::random::<[u8; 8]>());
    context
}
