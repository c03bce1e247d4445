//! Input files: direct uploads, the presigned flow for large files, and `upload_url`.

use tracing::{info, warn};

use super::{load_owned, modify_run, parse_id, Caller, Services};
use crate::compute::compute_options;
use crate::error::ApiError;
use crate::namelist;
use crate::ports::{Area, ByteStream, CompletedPart, FileError};
use crate::run::{FileState, Id, InputFile, ModelInfo, PendingUpload, Run, Status};
use crate::time::WrfTime;
use crate::url_guard;
use crate::wrf::{CaseKind, WrfCase};

pub const NAMELIST: &str = "namelist.input";

/// Rejects names that are not a plain file name.
pub fn validate_filename(name: &str) -> Result<(), ApiError> {
    if name.contains('/') || name.contains('\\') {
        let base = name.rsplit(['/', '\\']).next().unwrap_or("");
        return Err(ApiError::BadRequest(format!(
            "file name `{name}` contains a path; send the plain name, e.g. `{base}`"
        )));
    }
    if name.is_empty() || name == "." || name == ".." || name.len() > 255 {
        return Err(ApiError::BadRequest(format!("invalid file name `{name}`; use a plain name of 1 to 255 characters")));
    }
    if name.chars().any(char::is_control) {
        return Err(ApiError::BadRequest("the file name contains control characters".into()));
    }
    Ok(())
}

/// The namelist must be parsed before it replaces the stored one, so it only comes as a direct upload.
fn reject_indirect_namelist(filename: &str) -> Result<(), ApiError> {
    if filename == NAMELIST {
        return Err(ApiError::BadRequest(
            "upload namelist.input directly (multipart `file` field); it is checked before it replaces the current one"
                .into(),
        ));
    }
    Ok(())
}

fn ensure_accepts_uploads(run: &Run) -> Result<(), ApiError> {
    match run.status {
        Status::Created | Status::Ready => Ok(()),
        other => Err(ApiError::Conflict(format!(
            "run is `{other}`; input files can only be uploaded before the run is started"
        ))),
    }
}

/// The namelist's effect on a run: model facts, required inputs and compute options.
pub struct NamelistEffect {
    model: ModelInfo,
    required: Vec<String>,
    ideal: bool,
    options: Vec<crate::compute::ComputeOption>,
}

/// Parses a namelist for a run of `version`; a 400 names the line and the problem.
pub fn read_namelist(services: &Services, version: &str, bytes: &[u8]) -> Result<NamelistEffect, ApiError> {
    let text = std::str::from_utf8(bytes)
        .map_err(|e| ApiError::BadRequest(format!("namelist.input is not UTF-8 text (byte {})", e.valid_up_to())))?;
    let parsed = namelist::parse(text).map_err(|e| ApiError::BadRequest(format!("invalid namelist.input: {e}")))?;
    if !parsed.groups.contains_key("domains") || !parsed.groups.contains_key("time_control") {
        return Err(ApiError::BadRequest(
            "invalid namelist.input: it needs a &time_control and a &domains group".into(),
        ));
    }
    let case =
        WrfCase::from_namelist(&parsed, version).map_err(|e| ApiError::BadRequest(format!("invalid namelist.input: {e}")))?;
    let options = compute_options(&case, &services.config.compute, &services.config.estimate);
    if options.is_empty() {
        return Err(ApiError::BadRequest(no_options_message(&case, &services.config.compute)));
    }
    let mut required = vec![NAMELIST.to_string()];
    required.extend(case.input_files.iter().cloned());
    required.sort();
    Ok(NamelistEffect {
        model: model_info(&case, version),
        required,
        ideal: matches!(case.kind, CaseKind::Ideal { .. }) && !case.restart,
        options,
    })
}

fn no_options_message(case: &WrfCase, compute: &crate::config::ComputeConfig) -> String {
    let max_cores = compute.max_nodes * compute.cores_per_node;
    if case.nproc_x > 0 && case.nproc_y > 0 {
        let fixed = case.nproc_x * case.nproc_y + case.io_ranks;
        return format!(
            "namelist.input fixes nproc_x = {} and nproc_y = {} ({fixed} MPI ranks), more than the largest \
             cluster of {max_cores} cores; remove nproc_x/nproc_y to let cloudrun choose, or ask for a larger cluster",
            case.nproc_x, case.nproc_y
        );
    }
    "namelist.input: no offered core count gives every domain at least 10 points per MPI patch in x and y; \
     check e_we and e_sn"
        .to_string()
}

fn model_info(case: &WrfCase, version: &str) -> ModelInfo {
    let domains = &case.domains;
    ModelInfo {
        domain_shape: domains.iter().map(|d| [d.e_vert, d.e_sn, d.e_we]).collect(),
        domains: domains.len(),
        dt: domains.iter().map(|d| d.dt).collect(),
        dx: domains.iter().map(|d| d.dx).collect(),
        dy: domains.iter().map(|d| d.dy).collect(),
        end_time: domains.iter().map(|d| d.end.to_string()).collect(),
        name: "wrf".into(),
        output_interval: domains.iter().map(|d| d.history_interval as f64 / 60.0).collect(),
        start_time: domains.iter().map(|d| d.start.to_string()).collect(),
        version: version.to_string(),
    }
}

/// Records a stored input file on the run (replacing one of the same name) and applies a namelist.
fn register_input(run: &mut Run, entry: InputFile, effect: Option<&NamelistEffect>) -> Result<(), ApiError> {
    ensure_accepts_uploads(run)?;
    run.input_files.retain(|f| f.filename != entry.filename);
    run.input_files.push(entry);
    run.input_files.sort_by(|a, b| a.filename.cmp(&b.filename));
    if let Some(effect) = effect {
        run.model = Some(effect.model.clone());
        run.required_input_files = effect.required.clone();
        run.compute_options = effect.options.clone();
        run.ideal = effect.ideal;
        run.status = Status::Ready;
    }
    Ok(())
}

fn complete_entry(fileid: Id, filename: &str, size: u64) -> InputFile {
    InputFile { fileid, filename: filename.to_string(), size, state: FileState::Complete, source_url: None, error: None }
}

/// Stores a file sent to `POST /v1/wrf/{id}/upload` and returns its new `fileid`.
pub async fn upload_file(
    services: &Services,
    caller: &Caller,
    id: &str,
    filename: &str,
    body: ByteStream,
) -> Result<serde_json::Value, ApiError> {
    let id = parse_id(id)?;
    validate_filename(filename)?;
    let run = load_owned(services.runs.as_ref(), caller, &id).await?;
    ensure_accepts_uploads(&run)?;
    let limits = &services.config.uploads;

    let (size, effect) = if filename == NAMELIST {
        let bytes = collect_limited(body, limits.max_namelist_bytes).await?;
        let effect = read_namelist(services, &run.version, &bytes)?;
        let stream: ByteStream = Box::pin(futures::stream::iter([Ok(bytes::Bytes::from(bytes))]));
        let size = services.files.put(&id, Area::Inputs, filename, stream, limits.max_namelist_bytes).await?;
        (size, Some(effect))
    } else {
        (services.files.put(&id, Area::Inputs, filename, body, limits.max_file_bytes).await?, None)
    };

    let fileid = Id::new_random();
    let entry = complete_entry(fileid.clone(), filename, size);
    modify_run(services.runs.as_ref(), &id, None, |run| register_input(run, entry.clone(), effect.as_ref())).await?;
    info!(run_id = %id, fileid = %fileid, filename, size, "input file uploaded");
    Ok(serde_json::json!({ "fileid": fileid }))
}

async fn collect_limited(mut body: ByteStream, limit: u64) -> Result<Vec<u8>, ApiError> {
    use futures::StreamExt;
    let mut bytes = Vec::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| ApiError::from(FileError::Incomplete(e.to_string())))?;
        if (bytes.len() + chunk.len()) as u64 > limit {
            return Err(ApiError::PayloadTooLarge(format!(
                "namelist.input is larger than {limit} bytes; check that you are uploading the right file"
            )));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// Issues a presigned upload and its completion URL for `POST /v1/wrf/{id}/upload` with `{"filename", "size"}`.
pub async fn request_upload(
    services: &Services,
    caller: &Caller,
    id: &str,
    filename: &str,
    size: u64,
    base_url: &str,
) -> Result<serde_json::Value, ApiError> {
    let id = parse_id(id)?;
    validate_filename(filename)?;
    reject_indirect_namelist(filename)?;
    let limit = services.config.uploads.max_file_bytes;
    if size > limit {
        return Err(ApiError::PayloadTooLarge(format!("`size` {size} is above the limit of {limit} bytes for `{filename}`")));
    }
    let run = load_owned(services.runs.as_ref(), caller, &id).await?;
    ensure_accepts_uploads(&run)?;

    let fileid = Id::new_random();
    let presigned = services.files.presign_upload(&id, &fileid, size).await?;
    let pending = PendingUpload {
        fileid: fileid.clone(),
        filename: filename.to_string(),
        size,
        expires_at: presigned.expires_at.clone(),
    };
    modify_run(services.runs.as_ref(), &id, None, |run| {
        ensure_accepts_uploads(run)?;
        let now = WrfTime::now().to_string();
        run.pending_uploads.retain(|p| p.expires_at > now);
        run.pending_uploads.push(pending.clone());
        Ok(())
    })
    .await?;
    info!(run_id = %id, fileid = %fileid, filename, size, parts = presigned.parts.len(), "presigned upload issued");
    Ok(serde_json::json!({
        "fileid": fileid,
        "method": "PUT",
        "upload_url": presigned.url,
        "parts": presigned.parts,
        "headers": presigned.headers,
        "expires_at": presigned.expires_at,
        "complete_url": format!("{base_url}/v1/wrf/{id}/upload/{fileid}/complete"),
    }))
}

/// `POST /v1/wrf/{id}/upload/{fileid}/complete`: checks the presigned upload and adds it to `input_files`.
pub async fn complete_upload(
    services: &Services,
    caller: &Caller,
    id: &str,
    fileid: &str,
    parts: &[CompletedPart],
) -> Result<serde_json::Value, ApiError> {
    let id = parse_id(id)?;
    let run = load_owned(services.runs.as_ref(), caller, &id).await?;
    ensure_accepts_uploads(&run)?;
    let Some(pending) = run.pending_uploads.iter().find(|p| p.fileid.as_str() == fileid).cloned() else {
        // A repeated completion (or one the storage event already made) finds the file registered.
        if run.input_files.iter().any(|f| f.fileid.as_str() == fileid && f.state == FileState::Complete) {
            return Ok(serde_json::json!({ "fileid": fileid }));
        }
        return Err(ApiError::NotFound(format!("no pending upload `{fileid}` in run {id}; request a new upload URL")));
    };
    if pending.expires_at < WrfTime::now().to_string() {
        return Err(ApiError::BadRequest(format!(
            "the upload `{fileid}` expired at {}; request a new upload URL and send the file again",
            pending.expires_at
        )));
    }

    let size = services
        .files
        .complete_upload(&id, &pending.fileid, &pending.filename, pending.size, parts)
        .await?;
    let entry = complete_entry(pending.fileid.clone(), &pending.filename, size);
    modify_run(services.runs.as_ref(), &id, None, |run| {
        run.pending_uploads.retain(|p| p.fileid != pending.fileid);
        register_input(run, entry.clone(), None)
    })
    .await?;
    info!(run_id = %id, fileid, filename = %pending.filename, size, "presigned upload completed");
    Ok(serde_json::json!({ "fileid": pending.fileid }))
}

/// `POST /v1/wrf/{id}/upload_url` with `url` (and an optional `filename`): starts a background transfer.
pub async fn upload_url(
    services: &Services,
    caller: &Caller,
    id: &str,
    url: &str,
    filename: Option<&str>,
) -> Result<serde_json::Value, ApiError> {
    let id = parse_id(id)?;
    let parsed = url_guard::check_url_syntax(url).map_err(ApiError::BadRequest)?;
    let filename = match filename {
        Some(name) => name.to_string(),
        None => url_guard::file_name_of(&parsed).ok_or_else(|| {
            ApiError::BadRequest(format!("cannot tell a file name from `{url}`; add a `filename` field"))
        })?,
    };
    validate_filename(&filename)?;
    reject_indirect_namelist(&filename)?;
    let run = load_owned(services.runs.as_ref(), caller, &id).await?;
    ensure_accepts_uploads(&run)?;

    let fileid = Id::new_random();
    let entry = InputFile {
        fileid: fileid.clone(),
        filename: filename.clone(),
        size: 0,
        state: FileState::Pending,
        source_url: Some(url_guard::redact(&parsed)),
        error: None,
    };
    modify_run(services.runs.as_ref(), &id, None, |run| register_input(run, entry.clone(), None)).await?;
    if let Err(error) = services.fetcher.enqueue(&id, &fileid, &filename, url).await {
        finish_transfer(services, &id, &fileid, Err(format!("the transfer could not be started: {error}"))).await?;
        return Err(ApiError::Internal(format!("run {id}: enqueue failed: {error}")));
    }
    info!(run_id = %id, fileid = %fileid, filename, "upload_url transfer queued");
    Ok(serde_json::json!({ "fileid": fileid }))
}

/// Records the end of an `upload_url` transfer: the size on success, the reason on failure.
pub async fn finish_transfer(
    services: &Services,
    id: &Id,
    fileid: &Id,
    outcome: Result<u64, String>,
) -> Result<(), ApiError> {
    let run = services.runs.get(id).await?.ok_or_else(|| ApiError::run_not_found(id.as_str()))?;
    if !run.input_files.iter().any(|f| &f.fileid == fileid) {
        // A newer upload of the same name replaced this one; its bytes are not ours to keep.
        info!(run_id = %id, fileid = %fileid, "transfer finished for a replaced file entry");
        return Ok(());
    };
    modify_run(services.runs.as_ref(), id, None, |run| {
        let Some(file) = run.input_files.iter_mut().find(|f| &f.fileid == fileid) else {
            return Ok(());
        };
        match &outcome {
            Ok(size) => {
                file.size = *size;
                file.state = FileState::Complete;
                file.error = None;
            }
            Err(message) => {
                file.state = FileState::Failed;
                file.error = Some(message.clone());
            }
        }
        Ok(())
    })
    .await?;
    match &outcome {
        Ok(size) => info!(run_id = %id, fileid = %fileid, size, "upload_url transfer complete"),
        Err(message) => warn!(run_id = %id, fileid = %fileid, error = %message, "upload_url transfer failed"),
    }
    Ok(())
}
