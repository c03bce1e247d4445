//! The local HTTP server: every endpoint under `/v1/wrf`, plus `/v1/files` for signed uploads.

use std::time::Instant;

use axum::body::Body;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::Router;
use cloudrun_core::api::fields::Fields;
use cloudrun_core::api::{authenticate, runs, uploads, Caller, Services};
use cloudrun_core::error::ApiError;
use cloudrun_core::ports::{ByteStream, CompletedPart, Download};
use cloudrun_core::run::Id;
use futures::TryStreamExt;
use serde::Deserialize;
use tracing::{error, info, Instrument};

use crate::files::{FsFileStore, UploadGrant};

/// Largest form body (outside file uploads).
const MAX_FORM_BYTES: usize = 1024 * 1024;

#[derive(Clone)]
pub struct AppState {
    pub services: Services,
    pub files: FsFileStore,
    /// Root URL clients reach this server at, used in the URLs it hands out.
    pub base_url: String,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/v1/wrf", get(list_runs).post(create_run))
        .route("/v1/wrf/{id}", get(get_run).delete(delete_run))
        .route("/v1/wrf/{id}/upload", post(upload))
        .route("/v1/wrf/{id}/upload/{fileid}/complete", post(complete_upload))
        .route("/v1/wrf/{id}/upload_url", post(upload_url))
        .route("/v1/wrf/{id}/start", post(start_run))
        .route("/v1/wrf/{id}/stop", post(stop_run))
        .route("/v1/wrf/{id}/output/{filename}", get(download_output))
        .route("/v1/files/{run}/{fileid}", put(receive_signed_upload))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn(log_request))
        .with_state(state)
}

/// Logs one line per request: method, path (never the query, which may hold a signature), status, duration.
async fn log_request(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let request_id = hex::encode(rand::random::<[u8; 8]>());
    let span = tracing::info_span!("request", %request_id);
    let mut response = next.run(request).instrument(span).await;
    let status = response.status().as_u16();
    let millis = started.elapsed().as_secs_f64() * 1000.0;
    info!(%method, %path, status, duration_ms = format!("{millis:.1}"), %request_id, "request");
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-request-id", value);
    }
    response
}

fn error_response(error: ApiError) -> Response {
    if let ApiError::Internal(detail) = &error {
        error!(error = %detail, "internal error");
    }
    let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, axum::Json(error.body())).into_response()
}

fn respond(result: Result<serde_json::Value, ApiError>) -> Response {
    match result {
        Ok(body) => (StatusCode::OK, axum::Json(body)).into_response(),
        Err(error) => error_response(error),
    }
}

async fn not_found() -> Response {
    error_response(ApiError::NotFound("no such endpoint; the API lives under /v1/wrf".into()))
}

/// Returns 405 with the usual error body. axum adds the `Allow` header with the accepted methods.
async fn method_not_allowed() -> Response {
    let message = "method not allowed on this endpoint; the Allow header lists the accepted methods";
    let body = serde_json::json!({ "error": { "status": 405, "message": message } });
    (StatusCode::METHOD_NOT_ALLOWED, axum::Json(body)).into_response()
}

async fn caller(state: &AppState, headers: &HeaderMap) -> Result<Caller, ApiError> {
    let header = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    authenticate(state.services.tokens.as_ref(), header).await
}

fn content_type(headers: &HeaderMap) -> Option<String> {
    headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_string)
}

fn multipart_boundary(headers: &HeaderMap) -> Option<String> {
    content_type(headers).and_then(|c| multer::parse_boundary(c).ok())
}

fn body_stream(body: Body) -> ByteStream {
    Box::pin(body.into_data_stream().map_err(std::io::Error::other))
}

/// Reads the text fields of a multipart, url-encoded or JSON body.
async fn read_fields(headers: &HeaderMap, body: Body) -> Result<Fields, ApiError> {
    if let Some(boundary) = multipart_boundary(headers) {
        let constraints = multer::Constraints::new().size_limit(multer::SizeLimit::new().whole_stream(MAX_FORM_BYTES as u64));
        let mut multipart = multer::Multipart::with_constraints(body.into_data_stream(), boundary, constraints);
        let mut fields = Fields::default();
        while let Some(field) = multipart.next_field().await.map_err(bad_multipart)? {
            let name = field.name().unwrap_or_default().to_string();
            let text = field.text().await.map_err(bad_multipart)?;
            fields.insert(&name, text);
        }
        return Ok(fields);
    }
    let bytes = axum::body::to_bytes(body, MAX_FORM_BYTES)
        .await
        .map_err(|_| ApiError::PayloadTooLarge(format!("the request body is larger than {MAX_FORM_BYTES} bytes")))?;
    Fields::from_body(content_type(headers).as_deref(), &bytes)
}

fn bad_multipart(error: multer::Error) -> ApiError {
    ApiError::BadRequest(format!("invalid multipart body: {error}"))
}

async fn list_runs(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let result = async { runs::list_runs(&state.services, &caller(&state, &headers).await?).await }.await;
    respond(result)
}

async fn get_run(State(state): State<AppState>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    let result = async { runs::get_run(&state.services, &caller(&state, &headers).await?, &id).await }.await;
    respond(result)
}

async fn create_run(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    let result = async {
        let caller = caller(&state, &headers).await?;
        let fields = read_fields(&headers, body).await?;
        runs::create_run(&state.services, &caller, &fields).await
    }
    .await;
    respond(result)
}

async fn delete_run(State(state): State<AppState>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    let result = async { runs::delete_run(&state.services, &caller(&state, &headers).await?, &id).await }.await;
    respond(result)
}

async fn start_run(State(state): State<AppState>, Path(id): Path<String>, headers: HeaderMap, body: Body) -> Response {
    let result = async {
        let caller = caller(&state, &headers).await?;
        let fields = read_fields(&headers, body).await?;
        runs::start_run(&state.services, &caller, &id, &fields).await
    }
    .await;
    respond(result)
}

async fn stop_run(State(state): State<AppState>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    let result = async { runs::stop_run(&state.services, &caller(&state, &headers).await?, &id).await }.await;
    respond(result)
}

/// `POST /upload`: a multipart `file` streamed to disk, or JSON `{"filename", "size"}` for a presigned upload.
async fn upload(State(state): State<AppState>, Path(id): Path<String>, headers: HeaderMap, body: Body) -> Response {
    let result = async {
        let caller = caller(&state, &headers).await?;
        if let Some(boundary) = multipart_boundary(&headers) {
            return upload_multipart(&state, &caller, &id, boundary, body).await;
        }
        let fields = read_fields(&headers, body).await?;
        let (Some(filename), Some(size)) = (fields.get("filename"), fields.get("size")) else {
            return Err(ApiError::BadRequest(
                "send the file as multipart field `file` (curl -F file=@wrfinput_d01), \
                 or JSON {\"filename\": ..., \"size\": ...} for a presigned upload"
                    .into(),
            ));
        };
        let size: u64 = size
            .parse()
            .map_err(|_| ApiError::BadRequest(format!("`size` must be a whole number of bytes, got `{size}`")))?;
        uploads::request_upload(&state.services, &caller, &id, filename, size, &state.base_url).await
    }
    .await;
    respond(result)
}

async fn upload_multipart(
    state: &AppState,
    caller: &Caller,
    id: &str,
    boundary: String,
    body: Body,
) -> Result<serde_json::Value, ApiError> {
    let mut multipart = multer::Multipart::new(body.into_data_stream(), boundary);
    while let Some(field) = multipart.next_field().await.map_err(bad_multipart)? {
        if field.name() != Some("file") {
            continue;
        }
        let Some(filename) = field.file_name().map(str::to_string) else {
            return Err(ApiError::BadRequest("the `file` field has no file name; send it with curl -F file=@PATH".into()));
        };
        let stream: ByteStream = Box::pin(field.map_err(std::io::Error::other));
        return uploads::upload_file(&state.services, caller, id, &filename, stream).await;
    }
    Err(ApiError::BadRequest("missing multipart field `file`; send it with curl -F file=@PATH".into()))
}

#[derive(Deserialize, Default)]
struct CompleteBody {
    #[serde(default)]
    parts: Vec<CompletedPart>,
}

async fn complete_upload(
    State(state): State<AppState>,
    Path((id, fileid)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let result = async {
        let caller = caller(&state, &headers).await?;
        let bytes = axum::body::to_bytes(body, MAX_FORM_BYTES)
            .await
            .map_err(|_| ApiError::PayloadTooLarge("the completion body is too large".into()))?;
        let parsed: CompleteBody = if bytes.iter().all(u8::is_ascii_whitespace) {
            CompleteBody::default()
        } else {
            serde_json::from_slice(&bytes).map_err(|e| ApiError::BadRequest(format!("invalid completion body: {e}")))?
        };
        uploads::complete_upload(&state.services, &caller, &id, &fileid, &parsed.parts).await
    }
    .await;
    respond(result)
}

async fn upload_url(State(state): State<AppState>, Path(id): Path<String>, headers: HeaderMap, body: Body) -> Response {
    let result = async {
        let caller = caller(&state, &headers).await?;
        let fields = read_fields(&headers, body).await?;
        let url = fields.get("url").ok_or_else(|| ApiError::BadRequest("missing `url` field".into()))?;
        uploads::upload_url(&state.services, &caller, &id, url, fields.get("filename")).await
    }
    .await;
    respond(result)
}

async fn download_output(
    State(state): State<AppState>,
    Path((id, filename)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let result = async {
        let caller = caller(&state, &headers).await?;
        runs::download_output(&state.services, &caller, &id, &filename).await
    }
    .await;
    match result {
        Ok(Download::Stream { size, body }) => Response::builder()
            .status(StatusCode::OK)
            .header(header::CONTENT_TYPE, "application/octet-stream")
            .header(header::CONTENT_LENGTH, size)
            .header(header::CONTENT_DISPOSITION, format!("attachment; filename=\"{}\"", filename.replace('"', "")))
            .body(Body::from_stream(body))
            .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response()),
        Ok(Download::Redirect(url)) => Response::builder()
            .status(StatusCode::TEMPORARY_REDIRECT)
            .header(header::LOCATION, url)
            .body(Body::empty())
            .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response()),
        Err(error) => error_response(error),
    }
}

/// Reads the grant and signature from a signed URL's query string.
fn parse_signed_query(run: Id, fileid: Id, query: &str) -> Option<(UploadGrant, String)> {
    let pairs: std::collections::HashMap<String, String> = url::form_urlencoded::parse(query.as_bytes()).into_owned().collect();
    let part = match pairs.get("part") {
        Some(p) => Some(p.parse().ok()?),
        None => None,
    };
    let grant = UploadGrant { run, fileid, part, size: pairs.get("size")?.parse().ok()?, expires: pairs.get("expires")?.parse().ok()? };
    Some((grant, pairs.get("signature")?.clone()))
}

/// `PUT /v1/files/{run}/{fileid}?size&expires&signature`: the signed URL of a presigned upload.
async fn receive_signed_upload(
    State(state): State<AppState>,
    Path((run, fileid)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    body: Body,
) -> Response {
    let result = async {
        let (Ok(run), Ok(fileid)) = (run.parse::<Id>(), fileid.parse::<Id>()) else {
            return Err(ApiError::NotFound("no such upload".into()));
        };
        let Some((grant, signature)) = parse_signed_query(run, fileid, query.as_deref().unwrap_or("")) else {
            return Err(ApiError::Unauthorized("missing or malformed signature parameters".into()));
        };
        state.files.verify(&grant, &signature).map_err(ApiError::Unauthorized)?;
        let size = state.files.receive_signed_put(&grant, body_stream(body)).await?;
        Ok((size, grant.part))
    }
    .await;
    match result {
        Ok((size, part)) => {
            let etag = format!("\"{size}-{}\"", part.unwrap_or(0));
            (StatusCode::OK, [(header::ETAG, etag)]).into_response()
        }
        Err(error) => error_response(error),
    }
}
