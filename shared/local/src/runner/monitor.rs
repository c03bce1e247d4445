//! Watches one run's engine process: follows rsl.out.0000 for progress,
//! publishes output files once WRF has closed them, and records how the run ended.

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use cloudrun_core::api::jobs::{apply_job_update, JobUpdate};
use cloudrun_core::api::Services;
use cloudrun_core::config::RunnerConfig;
use cloudrun_core::ports::{Area, FileStore};
use cloudrun_core::rsl::{fatal_message, tail, Progress};
use cloudrun_core::run::{Id, OutputFile, Run, RunError};
use cloudrun_core::time::WrfTime;
use nix::sys::signal::Signal;
use tokio::process::Child;
use tracing::{error, info, warn};

use super::process::JobHandle;
use crate::engine::wrf::STARTED_MARKER;
use crate::files::FsFileStore;

/// Watches the run in a background task until its process ends.
pub fn spawn(services: Services, files: FsFileStore, config: RunnerConfig, id: Id, handle: JobHandle, child: Option<Child>) {
    tokio::spawn(async move {
        let mut watcher = Watcher::new(services, files, config, id.clone(), handle, child);
        if let Err(error) = watcher.watch().await {
            error!(run_id = %id, %error, "watching the run failed");
        }
    });
}

/// Finds runs that were starting or active when the server stopped: reattaches to
/// live processes and records the end of the others. Nothing stored is dropped.
pub async fn recover_runs(services: &Services, files: &FsFileStore, config: &RunnerConfig) -> Result<(), String> {
    let runs = services.runs.list_running().await.map_err(|e| e.to_string())?;
    for run in runs {
        let handle = run.job_id.as_deref().and_then(JobHandle::parse);
        match handle {
            Some(handle) if handle.is_alive() => {
                info!(run_id = %run.id, pid = handle.pid, "reattached to a running engine");
                spawn(services.clone(), files.clone(), config.clone(), run.id.clone(), handle, None);
            }
            _ => {
                let pid = handle.map(|h| h.pid.to_string()).unwrap_or_else(|| "none".into());
                warn!(run_id = %run.id, pid, "the run's engine is gone after a restart");
                let mut watcher = Watcher::new(services.clone(), files.clone(), config.clone(), run.id.clone(), JobHandle { pid: 0, start_ticks: 0 }, None);
                watcher.lost = Some(format!(
                    "the server restarted while the run was `{}` and its engine process (pid {pid}) was no longer running",
                    run.status
                ));
                if let Err(error) = watcher.finish().await {
                    error!(run_id = %run.id, %error, "recording the end of a lost run failed");
                }
            }
        }
    }
    Ok(())
}

struct Watcher {
    services: Services,
    files: FsFileStore,
    config: RunnerConfig,
    id: Id,
    handle: JobHandle,
    child: Option<Child>,
    work_dir: PathBuf,
    log_offset: u64,
    partial_line: String,
    progress: Progress,
    reported_active: bool,
    reported_percent: Option<f64>,
    published: Vec<OutputFile>,
    last_growth: Instant,
    stalled: bool,
    /// Reason the run ends without its process after a restart.
    lost: Option<String>,
}

impl Watcher {
    fn new(services: Services, files: FsFileStore, config: RunnerConfig, id: Id, handle: JobHandle, child: Option<Child>) -> Self {
        let work_dir = files.work_dir(&id);
        Watcher {
            services,
            files,
            config,
            id,
            handle,
            child,
            work_dir,
            log_offset: 0,
            partial_line: String::new(),
            progress: Progress::default(),
            reported_active: false,
            reported_percent: None,
            published: Vec::new(),
            last_growth: Instant::now(),
            stalled: false,
            lost: None,
        }
    }

    async fn update(&self, update: JobUpdate) -> Result<(), String> {
        apply_job_update(&self.services, &self.id, update).await.map_err(|e| e.to_string())
    }

    async fn load(&self) -> Result<Run, String> {
        self.services.runs.get(&self.id).await.map_err(|e| e.to_string())?.ok_or_else(|| "run record vanished".into())
    }

    fn exited(&mut self) -> bool {
        match &mut self.child {
            Some(child) => !matches!(child.try_wait(), Ok(None)),
            None => !self.handle.is_alive(),
        }
    }

    async fn watch(&mut self) -> Result<(), String> {
        let poll = Duration::from_millis(self.config.poll_milliseconds.max(50));
        loop {
            let exited = self.exited();
            self.observe().await?;
            if exited {
                break;
            }
            if self.last_growth.elapsed() > Duration::from_secs(self.config.stall_seconds) && !self.stalled {
                warn!(run_id = %self.id, seconds = self.config.stall_seconds, "rsl log stalled; ending the run");
                self.stalled = true;
                self.handle.signal_group(Signal::SIGKILL);
            }
            tokio::time::sleep(poll).await;
        }
        if let Some(child) = &mut self.child {
            let _ = child.wait().await;
        }
        self.finish().await
    }

    /// Reads new log lines, reports progress and publishes closed outputs.
    async fn observe(&mut self) -> Result<(), String> {
        if !self.work_dir.join(STARTED_MARKER).exists() {
            return Ok(());
        }
        if !self.reported_active {
            self.update(JobUpdate::Active).await?;
            self.reported_active = true;
        }
        if self.read_log() {
            self.last_growth = Instant::now();
        }
        let run = self.load().await?;
        let window = run.model.as_ref().and_then(|m| {
            Some((WrfTime::parse(m.start_time.first()?)?, WrfTime::parse(m.end_time.first()?)?))
        });
        if let Some((start, end)) = window {
            let percent = self.progress.percent(start, end);
            if self.reported_percent != Some(percent) && self.progress.model_time.is_some() {
                let remaining_time = self.progress.remaining_seconds(end);
                self.update(JobUpdate::Progress { percent_complete: percent, remaining_time }).await?;
                self.reported_percent = Some(percent);
            }
        }
        self.publish(false, &run).await
    }

    /// Feeds the lines appended to rsl.out.0000 since the last call; returns whether it grew.
    fn read_log(&mut self) -> bool {
        let Ok(mut file) = std::fs::File::open(self.work_dir.join("rsl.out.0000")) else {
            return false;
        };
        let length = file.metadata().map(|m| m.len()).unwrap_or(0);
        if length <= self.log_offset || file.seek(SeekFrom::Start(self.log_offset)).is_err() {
            return false;
        }
        let mut bytes = Vec::new();
        if file.take(length - self.log_offset).read_to_end(&mut bytes).is_err() {
            return false;
        }
        self.log_offset += bytes.len() as u64;
        self.partial_line.push_str(&String::from_utf8_lossy(&bytes));
        while let Some(end) = self.partial_line.find('\n') {
            let line: String = self.partial_line.drain(..=end).collect();
            self.progress.feed(&line);
        }
        true
    }

    /// Publishes output files: during the run only those WRF has closed, at the end all of them.
    async fn publish(&mut self, all: bool, run: &Run) -> Result<(), String> {
        let inputs: Vec<&str> = run.input_files.iter().map(|f| f.filename.as_str()).collect();
        let candidates = output_candidates(&self.work_dir, &inputs, all);
        for path in candidates {
            if let Err(error) = self.files.publish_output(&self.id, &path).await {
                warn!(run_id = %self.id, file = %path.display(), %error, "publishing an output failed");
            }
        }
        let listed = self.files.list(&self.id, Area::Outputs).await.map_err(|e| e.to_string())?;
        if listed != self.published {
            self.update(JobUpdate::Outputs(listed.clone())).await?;
            self.published = listed;
        }
        Ok(())
    }

    /// Publishes everything and records success or the reason of failure.
    async fn finish(&mut self) -> Result<(), String> {
        self.read_log();
        if !self.partial_line.is_empty() {
            let line = std::mem::take(&mut self.partial_line);
            self.progress.feed(&line);
        }
        let run = self.load().await?;
        self.publish(true, &run).await?;
        let update = if self.progress.success {
            JobUpdate::Succeeded
        } else {
            JobUpdate::Failed(self.failure())
        };
        info!(run_id = %self.id, success = self.progress.success, "engine ended");
        self.update(update).await
    }

    fn failure(&self) -> RunError {
        let read = |name: &str| std::fs::read_to_string(self.work_dir.join(name)).unwrap_or_default();
        let rsl_out = read("rsl.out.0000");
        if self.stalled {
            return RunError {
                status: "stalled".into(),
                message: format!(
                    "rsl.out.0000 did not grow for {} s, so the run was ended; last lines:\n{}",
                    self.config.stall_seconds,
                    tail(&rsl_out, 10)
                ),
            };
        }
        let mut error_logs: Vec<(String, String)> = std::fs::read_dir(&self.work_dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                name.starts_with("rsl.error.").then(|| (name.clone(), read(&name)))
            })
            .collect();
        error_logs.sort();
        let logs = std::iter::once(("rsl.out.0000".to_string(), rsl_out.clone())).chain(error_logs.iter().cloned());
        for (_, text) in logs.clone() {
            if let Some(message) = fatal_message(&text) {
                return RunError { status: "wrf_fatal".into(), message };
            }
        }
        for (name, text) in &error_logs {
            if text.contains("SIGSEGV") || text.contains("Program received signal") || text.contains("Backtrace") {
                return RunError { status: "wrf_crashed".into(), message: format!("wrf.exe crashed; last lines of {name}:\n{}", tail(text, 12)) };
            }
        }
        if let Some(reason) = &self.lost {
            return RunError { status: "lost".into(), message: format!("{reason}; last log lines:\n{}", tail(&rsl_out, 8)) };
        }
        let engine_log = read("engine.log");
        if rsl_out.is_empty() && !engine_log.trim().is_empty() {
            return RunError { status: "engine_failed".into(), message: tail(&engine_log, 12) };
        }
        RunError {
            status: "wrf_failed".into(),
            message: format!("wrf.exe ended without `SUCCESS COMPLETE WRF`; last lines of rsl.out.0000:\n{}", tail(&rsl_out, 12)),
        }
    }
}

/// Splits `wrfout_d01_2000-01-24_12:00:00[_0000]` into its stream key and date, if it has one.
fn stream_key(name: &str) -> Option<String> {
    let bytes = name.as_bytes();
    let (body, suffix) = match bytes.len() {
        n if n > 5 && bytes[n - 5] == b'_' && bytes[n - 4..].iter().all(u8::is_ascii_digit) => name.split_at(n - 5),
        _ => (name, ""),
    };
    if body.len() < 20 {
        return None;
    }
    let (prefix, date) = body.split_at(body.len() - 19);
    WrfTime::parse(&date.replacen('_', "#", 1).replace('_', ":").replacen('#', "_", 1))?;
    Some(format!("{prefix}*{suffix}"))
}

/// Output files ready to publish: per stream all but the newest file, or every file when `all`.
fn output_candidates(work_dir: &Path, inputs: &[&str], all: bool) -> Vec<PathBuf> {
    let mut streams: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    let mut undated = Vec::new();
    for entry in std::fs::read_dir(work_dir).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let is_file = entry.file_type().map(|t| t.is_file()).unwrap_or(false);
        if !is_file || name.starts_with('.') || inputs.contains(&name.as_str()) {
            continue;
        }
        let empty = entry.metadata().map(|m| m.len() == 0).unwrap_or(true);
        if name == "engine.log" && empty {
            continue;
        }
        match stream_key(&name) {
            Some(key) => streams.entry(key).or_default().push(entry.path()),
            None => undated.push(entry.path()),
        }
    }
    let mut ready = Vec::new();
    for (_, mut files) in streams {
        files.sort();
        if !all {
            files.pop();
        }
        ready.extend(files);
    }
    if all {
        ready.extend(undated);
    }
    ready
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_keys_group_dated_files() {
        assert_eq!(stream_key("wrfout_d01_2000-01-24_12:00:00").as_deref(), Some("wrfout_d01_*"));
        assert_eq!(stream_key("wrfout_d02_2019-11-27_00_00_00").as_deref(), Some("wrfout_d02_*"));
        assert_eq!(stream_key("wrfrst_d01_2023-01-01_00:00:00_0003").as_deref(), Some("wrfrst_d01_*_0003"));
        assert_eq!(stream_key("rsl.out.0000"), None);
        assert_eq!(stream_key("namelist.output"), None);
    }

    #[test]
    fn newest_file_of_each_stream_waits() {
        let dir = tempfile::tempdir().expect("temp dir");
        for name in ["wrfout_d01_2000-01-01_00:00:00", "wrfout_d01_2000-01-01_01:00:00", "wrfout_d02_2000-01-01_00:00:00", "rsl.out.0000", "wrfinput_d01"] {
            std::fs::write(dir.path().join(name), b"x").expect("write");
        }
        let names = |paths: Vec<PathBuf>| -> Vec<String> {
            let mut names: Vec<String> = paths.iter().map(|p| p.file_name().expect("name").to_string_lossy().into_owned()).collect();
            names.sort();
            names
        };
        let during = names(output_candidates(dir.path(), &["wrfinput_d01"], false));
        assert_eq!(during, vec!["wrfout_d01_2000-01-01_00:00:00"]);
        let at_end = names(output_candidates(dir.path(), &["wrfinput_d01"], true));
        assert_eq!(at_end.len(), 4, "{at_end:?}");
        assert!(!at_end.contains(&"wrfinput_d01".to_string()));
    }
}
