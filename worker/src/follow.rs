//! Follows a running job from its run directory: progress from rsl.out.0000,
//! outputs published once WRF has closed them, and the reason a run failed.

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use cloudrun_core::api::jobs::{apply_job_update_to, JobUpdate};
use cloudrun_core::ports::RunStore;
use cloudrun_core::rsl::{fatal_message, tail, Progress};
use cloudrun_core::run::{Id, OutputFile, RunError};
use cloudrun_core::time::WrfTime;

use crate::engine::wrf::STARTED_MARKER;
use crate::files::RunFiles;

/// Attempts to store the final outputs and the run's end: 1 + 2 + 4 + ... s, about 8 minutes in all.
const FINAL_ATTEMPTS: u32 = 10;

pub struct Follower {
    runs: Arc<dyn RunStore>,
    files: Arc<dyn RunFiles>,
    id: Id,
    work_dir: PathBuf,
    /// d01's run window, for percent_complete.
    window: Option<(WrfTime, WrfTime)>,
    /// Names staged as inputs, which are never outputs.
    inputs: Vec<String>,
    log_offset: u64,
    partial_line: String,
    pub progress: Progress,
    reported_active: bool,
    reported_percent: Option<f64>,
    published: Vec<OutputFile>,
    /// Time at which rsl.out.0000 last grew (or the follower started), for the stall check.
    pub log_grew_at: std::time::Instant,
}

impl Follower {
    pub fn new(
        runs: Arc<dyn RunStore>,
        files: Arc<dyn RunFiles>,
        id: Id,
        work_dir: PathBuf,
        window: Option<(WrfTime, WrfTime)>,
        inputs: Vec<String>,
    ) -> Follower {
        Follower {
            runs,
            files,
            id,
            work_dir,
            window,
            inputs,
            log_offset: 0,
            partial_line: String::new(),
            progress: Progress::default(),
            reported_active: false,
            reported_percent: None,
            published: Vec::new(),
            log_grew_at: std::time::Instant::now(),
        }
    }

    pub async fn update(&self, update: JobUpdate) -> Result<(), String> {
        apply_job_update_to(self.runs.as_ref(), &self.id, update).await.map_err(|e| e.to_string())
    }

    /// Reads new log lines, reports progress and publishes closed outputs.
    pub async fn observe(&mut self) -> Result<(), String> {
        if !self.work_dir.join(STARTED_MARKER).exists() {
            return Ok(());
        }
        if !self.reported_active {
            self.update(JobUpdate::Active).await?;
            self.reported_active = true;
        }
        if self.read_log() {
            self.log_grew_at = std::time::Instant::now();
        }
        if let (Some((start, end)), Some(_)) = (self.window, self.progress.model_time) {
            let percent = self.progress.percent(start, end);
            if self.reported_percent != Some(percent) {
                let remaining_time = self.progress.remaining_seconds(end);
                self.update(JobUpdate::Progress { percent_complete: percent, remaining_time }).await?;
                self.reported_percent = Some(percent);
            }
        }
        self.publish(false).await
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
    pub async fn publish(&mut self, all: bool) -> Result<(), String> {
        let inputs: Vec<&str> = self.inputs.iter().map(String::as_str).collect();
        for path in output_candidates(&self.work_dir, &inputs, all) {
            if let Err(error) = self.files.publish_output(&path).await {
                tracing::warn!(run_id = %self.id, file = %path.display(), %error, "publishing an output failed");
            }
        }
        let listed = self.files.list_outputs().await?;
        if listed != self.published {
            self.update(JobUpdate::Outputs(listed.clone())).await?;
            self.published = listed;
        }
        Ok(())
    }

    /// Reads the rest of the log and publishes everything, retrying with backoff while
    /// storage fails, so that a passing outage loses no output.
    pub async fn drain(&mut self) -> Result<(), String> {
        self.read_log();
        if !self.partial_line.is_empty() {
            let line = std::mem::take(&mut self.partial_line);
            self.progress.feed(&line);
        }
        let mut delay = std::time::Duration::from_secs(1);
        for attempt in 1..=FINAL_ATTEMPTS {
            let error = match (self.publish(true).await, self.unpublished().await) {
                (Ok(()), Ok(0)) => return Ok(()),
                (Err(error), _) | (_, Err(error)) => error,
                (Ok(()), Ok(count)) => format!("{count} output(s) not stored yet"),
            };
            if attempt == FINAL_ATTEMPTS {
                return Err(error);
            }
            tracing::warn!(run_id = %self.id, %error, attempt, "storing outputs failed; retrying");
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(std::time::Duration::from_secs(60));
        }
        Err("outputs could not all be stored".into())
    }

    /// Counts the files of the run directory not yet among the stored outputs.
    async fn unpublished(&self) -> Result<usize, String> {
        let stored = self.files.list_outputs().await?;
        let inputs: Vec<&str> = self.inputs.iter().map(String::as_str).collect();
        let local = output_candidates(&self.work_dir, &inputs, true);
        Ok(local
            .iter()
            .filter(|path| {
                let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
                !stored.iter().any(|f| f.filename == name && f.size == size)
            })
            .count())
    }

    /// Records the run's end, retrying with backoff while the run store fails.
    pub async fn record_end(&self, update: JobUpdate) -> Result<(), String> {
        let mut delay = std::time::Duration::from_secs(1);
        for attempt in 1..=FINAL_ATTEMPTS {
            match self.update(update.clone()).await {
                Ok(()) => return Ok(()),
                Err(error) if attempt == FINAL_ATTEMPTS => return Err(error),
                Err(error) => tracing::warn!(run_id = %self.id, %error, attempt, "recording the run's end failed; retrying"),
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(std::time::Duration::from_secs(60));
        }
        Err("the run's end could not be recorded".into())
    }

    /// Returns why a run that did not succeed failed, read from its logs.
    pub fn failure(&self) -> RunError {
        let read = |name: &str| std::fs::read_to_string(self.work_dir.join(name)).unwrap_or_default();
        let rsl_out = read("rsl.out.0000");
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

        let logs = std::iter::once(rsl_out.as_str()).chain(error_logs.iter().map(|(_, text)| text.as_str()));
        for text in logs {
            if let Some(message) = fatal_message(text) {
                return RunError { status: "wrf_fatal".into(), message };
            }
        }
        for (name, text) in &error_logs {
            if text.contains("SIGSEGV") || text.contains("Program received signal") || text.contains("Backtrace") {
                let message = format!("wrf.exe crashed; last lines of {name}:\n{}", tail(text, 12));
                return RunError { status: "wrf_crashed".into(), message };
            }
        }
        let message = format!(
            "wrf.exe ended without `SUCCESS COMPLETE WRF`; last lines of rsl.out.0000:\n{}",
            tail(&rsl_out, 12)
        );
        RunError { status: "wrf_failed".into(), message }
    }
}

/// Splits `wrfout_d01_2000-01-24_12:00:00[_0000]` into a stream key, if the name ends in a date.
pub fn stream_key(name: &str) -> Option<String> {
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
pub fn output_candidates(work_dir: &Path, inputs: &[&str], all: bool) -> Vec<PathBuf> {
    let mut streams: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    let mut undated = Vec::new();
    for entry in std::fs::read_dir(work_dir).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let is_file = entry.file_type().map(|t| t.is_file()).unwrap_or(false);
        if !is_file || name.starts_with('.') || inputs.contains(&name.as_str()) {
            continue;
        }
        // The MPI hostfile is the job's own bookkeeping, not a model output.
        if name == "hostfile" {
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
