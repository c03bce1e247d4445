//! One handler per API endpoint, each mapping an API Gateway request to a core handler.

use cloudrun_core::api::{runs, uploads, Services};
use cloudrun_core::error::ApiError;
use cloudrun_core::ports::{CompletedPart, Download};
use lambda_http::{Body, Request, Response};
use serde::Deserialize;

use crate::http::{self, caller, fields, path_parameter, respond, serve};

type Handled = Result<Response<Body>, lambda_http::Error>;

/// Largest multipart body a function accepts. Lambda takes request payloads of up to 6 MB and API
/// Gateway sends binary bodies base64-encoded (4 bytes per 3), so about 4.5 MB of body fit.
const MAX_LAMBDA_BODY_BYTES: u64 = 4 * 1024 * 1024;

/// `GET /v1/wrf`
pub async fn list(services: &Services, request: Request) -> Handled {
    serve("list", request, |request| async move {
        let result = async { runs::list_runs(services, &caller(&request)?).await }.await;
        respond(result)
    })
    .await
}

/// `GET /v1/wrf/{id}`
pub async fn get(services: &Services, request: Request) -> Handled {
    serve("get", request, |request| async move {
        let result = async { runs::get_run(services, &caller(&request)?, &path_parameter(&request, "id")).await }.await;
        respond(result)
    })
    .await
}

/// `POST /v1/wrf` with an optional `version`.
pub async fn create(services: &Services, request: Request) -> Handled {
    serve("create", request, |request| async move {
        let result = async { runs::create_run(services, &caller(&request)?, &fields(&request).await?).await }.await;
        respond(result)
    })
    .await
}

/// `POST /v1/wrf/{id}/start` with `cores`.
pub async fn start(services: &Services, request: Request) -> Handled {
    serve("start", request, |request| async move {
        let result = async {
            let (caller, fields) = (caller(&request)?, fields(&request).await?);
            runs::start_run(services, &caller, &path_parameter(&request, "id"), &fields).await
        }
        .await;
        respond(result)
    })
    .await
}

/// `POST /v1/wrf/{id}/stop`
pub async fn stop(services: &Services, request: Request) -> Handled {
    serve("stop", request, |request| async move {
        let result = async { runs::stop_run(services, &caller(&request)?, &path_parameter(&request, "id")).await }.await;
        respond(result)
    })
    .await
}

/// `DELETE /v1/wrf/{id}`: removes the outputs and keeps the run.
pub async fn delete(services: &Services, request: Request) -> Handled {
    serve("delete", request, |request| async move {
        let result = async { runs::delete_run(services, &caller(&request)?, &path_parameter(&request, "id")).await }.await;
        respond(result)
    })
    .await
}

/// `GET /v1/wrf/{id}/output/{filename}`: a redirect to a presigned S3 URL.
pub async fn output(services: &Services, request: Request) -> Handled {
    serve("output", request, |request| async move {
        let result = async {
            let (id, filename) = (path_parameter(&request, "id"), path_parameter(&request, "filename"));
            runs::download_output(services, &caller(&request)?, &id, &filename).await
        }
        .await;
        match result {
            Ok(Download::Redirect(url)) => redirect(&url),
            Ok(Download::Stream { .. }) => {
                http::error_response(&ApiError::Internal("the S3 file store returned a stream, not a URL".into()))
            }
            Err(error) => http::error_response(&error),
        }
    })
    .await
}

fn redirect(url: &str) -> Response<Body> {
    let mut response = Response::new(Body::Empty);
    *response.status_mut() = lambda_http::http::StatusCode::TEMPORARY_REDIRECT;
    if let Ok(location) = lambda_http::http::HeaderValue::from_str(url) {
        response.headers_mut().insert(lambda_http::http::header::LOCATION, location);
    }
    response
}

/// `POST /v1/wrf/{id}/upload_url` with `url` and an optional `filename`.
pub async fn upload_url(services: &Services, request: Request) -> Handled {
    serve("upload_url", request, |request| async move {
        let result = async {
            let (caller, fields) = (caller(&request)?, fields(&request).await?);
            let url = fields.get("url").ok_or_else(|| ApiError::BadRequest("missing `url` field".into()))?;
            uploads::upload_url(services, &caller, &path_parameter(&request, "id"), url, fields.get("filename")).await
        }
        .await;
        respond(result)
    })
    .await
}

/// `POST /v1/wrf/{id}/upload` (a multipart `file`, or JSON `{"filename", "size"}` for a presigned
/// upload) and `POST /v1/wrf/{id}/upload/{fileid}/complete`.
pub async fn upload(services: &Services, request: Request) -> Handled {
    serve("upload", request, |request| async move {
        let result = async {
            let caller = caller(&request)?;
            let id = path_parameter(&request, "id");
            let fileid = path_parameter(&request, "fileid");
            if !fileid.is_empty() {
                return complete(services, &caller, &id, &fileid, &request).await;
            }
            if let Some(boundary) = http::multipart_boundary(&request) {
                return upload_file(services, &caller, &id, boundary, &request).await;
            }
            request_upload(services, &caller, &id, &request).await
        }
        .await;
        respond(result)
    })
    .await
}

async fn upload_file(
    services: &Services,
    caller: &cloudrun_core::api::Caller,
    id: &str,
    boundary: String,
    request: &Request,
) -> Result<serde_json::Value, ApiError> {
    let limit = services.config.uploads.max_direct_bytes.min(MAX_LAMBDA_BODY_BYTES);
    if http::body_bytes(request).len() as u64 > limit {
        return Err(ApiError::PayloadTooLarge(format!(
            "the request is larger than {limit} bytes; send JSON {{\"filename\": ..., \"size\": ...}} for a presigned upload"
        )));
    }
    let parts = http::multipart_parts(request, boundary).await?;
    let Some((_, filename, bytes)) = parts.into_iter().find(|(name, _, _)| name == "file") else {
        return Err(ApiError::BadRequest("missing multipart field `file`; send it with curl -F file=@PATH".into()));
    };
    let filename =
        filename.ok_or_else(|| ApiError::BadRequest("the `file` field has no file name; send it with curl -F file=@PATH".into()))?;
    let body: cloudrun_core::ports::ByteStream = Box::pin(futures::stream::iter([Ok(bytes)]));
    uploads::upload_file(services, caller, id, &filename, body).await
}

async fn request_upload(
    services: &Services,
    caller: &cloudrun_core::api::Caller,
    id: &str,
    request: &Request,
) -> Result<serde_json::Value, ApiError> {
    let fields = fields(request).await?;
    let (Some(filename), Some(size)) = (fields.get("filename"), fields.get("size")) else {
        return Err(ApiError::BadRequest(
            "send the file as multipart field `file` (curl -F file=@wrfinput_d01), \
             or JSON {\"filename\": ..., \"size\": ...} for a presigned upload"
                .into(),
        ));
    };
    let size: u64 =
        size.parse().map_err(|_| ApiError::BadRequest(format!("`size` must be a whole number of bytes, got `{size}`")))?;
    uploads::request_upload(services, caller, id, filename, size, &http::base_url(request)).await
}

#[derive(Deserialize, Default)]
struct CompleteBody {
    #[serde(default)]
    parts: Vec<CompletedPart>,
}

/// Completes a presigned upload. The S3 event handler may have completed a single-PUT upload
/// already; the file then shows in `input_files` under this file id, and the call succeeds.
async fn complete(
    services: &Services,
    caller: &cloudrun_core::api::Caller,
    id: &str,
    fileid: &str,
    request: &Request,
) -> Result<serde_json::Value, ApiError> {
    let bytes = http::body_bytes(request);
    let body: CompleteBody = if bytes.iter().all(u8::is_ascii_whitespace) {
        CompleteBody::default()
    } else {
        serde_json::from_slice(bytes).map_err(|e| ApiError::BadRequest(format!("invalid completion body: {e}")))?
    };
    match uploads::complete_upload(services, caller, id, fileid, &body.parts).await {
        Err(ApiError::NotFound(message)) => {
            let run = runs::get_run(services, caller, id).await?;
            let files = run["input_files"].as_array().cloned().unwrap_or_default();
            let done = files.iter().any(|f| f["fileid"] == fileid && f["state"] == "complete");
            if done {
                Ok(serde_json::json!({ "fileid": fileid }))
            } else {
                Err(ApiError::NotFound(message))
            }
        }
        other => other,
    }
}
