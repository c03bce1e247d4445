//! Endpoints on whole runs: list, get, create, start, stop, delete, and output download.

use tracing::{info, warn};

use super::fields::Fields;
use super::{load_owned, modify_run, parse_id, Caller, Services};
use crate::error::ApiError;
use crate::ports::{Area, Download};
use crate::run::{Run, Status};
use crate::time::WrfTime;

/// `GET /v1/wrf`: the caller's runs, newest first.
pub async fn list_runs(services: &Services, caller: &Caller) -> Result<serde_json::Value, ApiError> {
    let runs = services.runs.list_by_owner(&caller.user).await?;
    Ok(serde_json::Value::Array(runs.iter().map(Run::view).collect()))
}

/// `GET /v1/wrf/{id}`.
pub async fn get_run(services: &Services, caller: &Caller, id: &str) -> Result<serde_json::Value, ApiError> {
    let id = parse_id(id)?;
    Ok(load_owned(services.runs.as_ref(), caller, &id).await?.view())
}

/// `POST /v1/wrf` with an optional `version` (and `model`, which must be `wrf`).
pub async fn create_run(services: &Services, caller: &Caller, fields: &Fields) -> Result<serde_json::Value, ApiError> {
    if let Some(model) = fields.get("model") {
        if !model.eq_ignore_ascii_case("wrf") {
            return Err(ApiError::BadRequest(format!("unsupported model `{model}`; the only model is `wrf`")));
        }
    }
    let wrf = &services.config.wrf;
    let version = fields.get("version").map(str::trim).unwrap_or(&wrf.default_version);
    if !wrf.versions.iter().any(|v| v == version) {
        return Err(ApiError::BadRequest(format!(
            "unsupported WRF version `{version}`; supported versions: {}",
            wrf.versions.join(", ")
        )));
    }
    let run = Run::new(&caller.user, version);
    services.runs.insert(&run).await?;
    info!(run_id = %run.id, user = %caller.user, version, "run created");
    Ok(run.view())
}

fn parse_cores(fields: &Fields, run: &Run) -> Result<i64, ApiError> {
    let offered: Vec<String> = run.compute_options.iter().map(|o| o.cores.to_string()).collect();
    let Some(text) = fields.get("cores") else {
        return Err(ApiError::BadRequest(format!(
            "missing `cores`; choose one of the compute options: {}",
            offered.join(", ")
        )));
    };
    let cores: i64 = text.trim().parse().map_err(|_| {
        ApiError::BadRequest(format!("`cores` must be a whole number, got `{text}`; choose one of {}", offered.join(", ")))
    })?;
    if !run.compute_options.iter().any(|o| o.cores == cores) {
        return Err(ApiError::BadRequest(format!(
            "cores = {cores} is not a compute option of this run; choose one of {}",
            offered.join(", ")
        )));
    }
    Ok(cores)
}

/// `POST /v1/wrf/{id}/start` with `cores`: `ready` -> `starting`, then submits the job.
pub async fn start_run(
    services: &Services,
    caller: &Caller,
    id: &str,
    fields: &Fields,
) -> Result<serde_json::Value, ApiError> {
    let id = parse_id(id)?;
    let engine = services.scheduler.engine();
    let started = modify_run(services.runs.as_ref(), &id, Some(&caller.user), |run| {
        match run.status {
            Status::Ready => {}
            Status::Created => {
                return Err(ApiError::Conflict(
                    "run is `created`: upload a valid namelist.input before starting it".into(),
                ))
            }
            other => return Err(ApiError::Conflict(format!("run is `{other}`; only a `ready` run can be started"))),
        }
        let missing = run.missing_inputs();
        if !missing.is_empty() {
            return Err(ApiError::Conflict(format!(
                "missing input files: {}; upload them before starting the run",
                missing.join(", ")
            )));
        }
        run.cores = Some(parse_cores(fields, run)?);
        run.status = Status::Starting;
        run.time_started = Some(WrfTime::now().to_string());
        run.percent_complete = Some(0.0);
        run.remaining_time = None;
        run.error = None;
        run.engine = Some(engine.clone());
        run.output_files.clear();
        Ok(())
    })
    .await?;

    // Only the request whose write moved the run to `starting` gets here, so one job is submitted.
    match services.scheduler.submit(&started).await {
        Ok(job_id) => {
            info!(run_id = %id, cores = started.cores, job_id, engine, "run started");
            let run = modify_run(services.runs.as_ref(), &id, None, |run| {
                run.job_id = Some(job_id.clone());
                Ok(())
            })
            .await?;
            Ok(run.view())
        }
        Err(error) => {
            warn!(run_id = %id, %error, "job submission failed; the run goes back to ready");
            modify_run(services.runs.as_ref(), &id, None, |run| {
                if run.status == Status::Starting {
                    run.status = Status::Ready;
                    run.cores = None;
                    run.time_started = None;
                    run.percent_complete = None;
                    run.engine = None;
                }
                Ok(())
            })
            .await?;
            Err(ApiError::Internal(format!("run {id}: job submission failed: {error}")))
        }
    }
}

/// `POST /v1/wrf/{id}/stop`: ends the job of a `starting` or `active` run and marks it `stopped`.
pub async fn stop_run(services: &Services, caller: &Caller, id: &str) -> Result<serde_json::Value, ApiError> {
    let id = parse_id(id)?;
    let run = load_owned(services.runs.as_ref(), caller, &id).await?;
    if !run.status.is_running() {
        return Err(ApiError::Conflict(format!(
            "run is `{}`; only a `starting` or `active` run can be stopped",
            run.status
        )));
    }
    let stopped = modify_run(services.runs.as_ref(), &id, None, |run| {
        if !run.status.is_running() {
            return Err(ApiError::Conflict(format!("run is `{}` and can no longer be stopped", run.status)));
        }
        run.finish(Status::Stopped, None);
        run.remaining_time = None;
        Ok(())
    })
    .await?;
    if let Err(error) = services.scheduler.terminate(&stopped).await {
        // The run stays `stopped`; the job's own end event cannot move it back.
        warn!(run_id = %id, %error, "terminating the job failed");
        return Err(ApiError::Internal(format!("run {id}: terminate failed: {error}")));
    }
    info!(run_id = %id, "run stopped");
    Ok(stopped.view())
}

/// `DELETE /v1/wrf/{id}`: removes the output files and keeps the run's metadata.
pub async fn delete_run(services: &Services, caller: &Caller, id: &str) -> Result<serde_json::Value, ApiError> {
    let id = parse_id(id)?;
    let run = load_owned(services.runs.as_ref(), caller, &id).await?;
    if run.status.is_running() {
        return Err(ApiError::Conflict(format!("run is `{}`; stop it before deleting its outputs", run.status)));
    }
    services.files.delete_area(&id, Area::Outputs).await?;
    let run = modify_run(services.runs.as_ref(), &id, None, |run| {
        if run.status.is_running() {
            return Err(ApiError::Conflict(format!("run is `{}`; stop it before deleting its outputs", run.status)));
        }
        run.output_files.clear();
        Ok(())
    })
    .await?;
    info!(run_id = %id, "run outputs deleted");
    Ok(run.view())
}

/// `GET /v1/wrf/{id}/output/{filename}`: streams an output file or redirects to it.
pub async fn download_output(
    services: &Services,
    caller: &Caller,
    id: &str,
    filename: &str,
) -> Result<Download, ApiError> {
    let id = parse_id(id)?;
    let run = load_owned(services.runs.as_ref(), caller, &id).await?;
    super::uploads::validate_filename(filename)?;
    if !run.output_files.iter().any(|f| f.filename == filename) {
        return Err(ApiError::NotFound(format!(
            "output file `{filename}` not found in run {id}; `output_files` lists the available ones"
        )));
    }
    services.files.open(&id, Area::Outputs, filename).await.map_err(|error| match error {
        crate::ports::FileError::NotFound => ApiError::NotFound(format!("output file `{filename}` not found")),
        other => other.into(),
    })
}
