//! API Gateway (REST, proxy integration) requests and responses: the caller set by the
//! authorizer, path parameters, form bodies, and JSON and error responses.

use std::future::Future;
use std::time::Instant;

use cloudrun_core::api::fields::Fields;
use cloudrun_core::api::Caller;
use cloudrun_core::error::ApiError;
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use tracing::{error, info};

/// Largest text body outside file uploads.
const MAX_FORM_BYTES: usize = 1024 * 1024;

/// The user the authorizer resolved the bearer token to.
///
/// API Gateway passes the authorizer's `context` and `principalId` in the request context; a
/// request without them did not pass the authorizer, which only a misconfigured API allows.
pub fn caller(request: &Request) -> Result<Caller, ApiError> {
    let fields = match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV1(context)) => Some(&context.authorizer.fields),
        _ => None,
    };
    let user = fields
        .and_then(|f| f.get("user").or_else(|| f.get("principalId")))
        .and_then(|v| v.as_str())
        .filter(|user| !user.is_empty());
    match user {
        Some(user) => Ok(Caller { user: user.to_string() }),
        None => Err(ApiError::Unauthorized("missing caller identity; send `Authorization: Bearer <token>`".into())),
    }
}

/// Returns a path parameter such as `id`, or an empty string when it is absent, which the handlers report as not found.
pub fn path_parameter(request: &Request, name: &str) -> String {
    request.path_parameters_ref().and_then(|p| p.first(name)).unwrap_or_default().to_string()
}

pub fn request_id(request: &Request) -> String {
    match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV1(context)) => context.request_id.clone().unwrap_or_default(),
        _ => String::new(),
    }
}

/// Returns the URL clients reach the API at: `https://<domain>/<stage>`, or the domain alone for a custom domain.
pub fn base_url(request: &Request) -> String {
    let Some(RequestContext::ApiGatewayV1(context)) = request.request_context_ref() else {
        return String::new();
    };
    let domain = context.domain_name.clone().unwrap_or_default();
    match context.stage.as_deref() {
        Some(stage) if domain.contains(".execute-api.") => format!("https://{domain}/{stage}"),
        _ => format!("https://{domain}"),
    }
}

pub fn content_type(request: &Request) -> Option<String> {
    let value = request.headers().get(lambda_http::http::header::CONTENT_TYPE)?;
    value.to_str().ok().map(str::to_string)
}

pub fn body_bytes(request: &Request) -> &[u8] {
    match request.body() {
        Body::Empty => &[],
        Body::Text(text) => text.as_bytes(),
        Body::Binary(bytes) => bytes,
        _ => &[],
    }
}

/// Returns the multipart boundary when the body is `multipart/form-data`.
pub fn multipart_boundary(request: &Request) -> Option<String> {
    content_type(request).and_then(|c| multer::parse_boundary(c).ok())
}

/// Parses the body as multipart form data into its parts: (field name, file name, bytes).
pub async fn multipart_parts(request: &Request, boundary: String) -> Result<Vec<(String, Option<String>, bytes::Bytes)>, ApiError> {
    let body = bytes::Bytes::copy_from_slice(body_bytes(request));
    let stream = futures::stream::once(async move { Ok::<_, std::io::Error>(body) });
    let mut multipart = multer::Multipart::new(stream, boundary);
    let mut parts = Vec::new();
    while let Some(field) = multipart.next_field().await.map_err(bad_multipart)? {
        let name = field.name().unwrap_or_default().to_string();
        let filename = field.file_name().map(str::to_string);
        parts.push((name, filename, field.bytes().await.map_err(bad_multipart)?));
    }
    Ok(parts)
}

fn bad_multipart(error: multer::Error) -> ApiError {
    ApiError::BadRequest(format!("invalid multipart body: {error}"))
}

/// Parses the text fields of a multipart, url-encoded or JSON body.
pub async fn fields(request: &Request) -> Result<Fields, ApiError> {
    if body_bytes(request).len() > MAX_FORM_BYTES {
        return Err(ApiError::PayloadTooLarge(format!("the request body is larger than {MAX_FORM_BYTES} bytes")));
    }
    let Some(boundary) = multipart_boundary(request) else {
        return Fields::from_body(content_type(request).as_deref(), body_bytes(request));
    };
    let mut fields = Fields::default();
    for (name, _, bytes) in multipart_parts(request, boundary).await? {
        let text = String::from_utf8(bytes.to_vec())
            .map_err(|_| ApiError::BadRequest(format!("multipart field `{name}` is not UTF-8 text")))?;
        fields.insert(&name, text);
    }
    Ok(fields)
}

pub fn json(status: u16, body: &serde_json::Value) -> Response<Body> {
    let mut response = Response::new(Body::Text(body.to_string()));
    *response.status_mut() = lambda_http::http::StatusCode::from_u16(status).unwrap_or_default();
    let json = lambda_http::http::HeaderValue::from_static("application/json");
    response.headers_mut().insert(lambda_http::http::header::CONTENT_TYPE, json);
    response
}

/// Builds the error's JSON response and logs an internal error's detail, which the body leaves out.
pub fn error_response(error: &ApiError) -> Response<Body> {
    if let ApiError::Internal(detail) = error {
        error!(error = %detail, "internal error");
    }
    json(error.status(), &error.body())
}

pub fn respond(result: Result<serde_json::Value, ApiError>) -> Response<Body> {
    match result {
        Ok(body) => json(200, &body),
        Err(error) => error_response(&error),
    }
}

/// Runs `handler` and logs one line: endpoint, method, path (never the query), status, duration, request id.
pub async fn serve<F, Fut>(endpoint: &str, request: Request, handler: F) -> Result<Response<Body>, lambda_http::Error>
where
    F: FnOnce(Request) -> Fut,
    Fut: Future<Output = Response<Body>>,
{
    let started = Instant::now();
    let (method, path, request_id) = (request.method().clone(), request.uri().path().to_string(), request_id(&request));
    let span = tracing::info_span!("request", %request_id);
    let response = tracing::Instrument::instrument(handler(request), span).await;
    let millis = started.elapsed().as_secs_f64() * 1000.0;
    let status = response.status().as_u16();
    info!(endpoint, %method, %path, status, duration_ms = format!("{millis:.1}"), %request_id, "request");
    Ok(response)
}
