//! The run record, its status machine and its JSON form.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize, Serializer};

use crate::compute::ComputeOption;
use crate::time::WrfTime;

/// A run or file id: 32 lower-case hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Id(String);

impl Id {
    pub fn new_random() -> Self {
        let bytes: [u8; 16] = rand::random();
        Id(hex::encode(bytes))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Id {
    type Err = ();

    fn from_str(text: &str) -> Result<Self, ()> {
        let valid = text.len() == 32 && text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if valid {
            Ok(Id(text.to_string()))
        } else {
            Err(())
        }
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Created,
    Ready,
    Starting,
    Active,
    Stopped,
    Done,
    Error,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Ready => "ready",
            Status::Starting => "starting",
            Status::Active => "active",
            Status::Stopped => "stopped",
            Status::Done => "done",
            Status::Error => "error",
        }
    }

    /// Returns whether a job is (or may still be) running for the run.
    pub fn is_running(self) -> bool {
        matches!(self, Status::Starting | Status::Active)
    }

    pub fn is_finished(self) -> bool {
        matches!(self, Status::Stopped | Status::Done | Status::Error)
    }

    pub fn parse(text: &str) -> Option<Status> {
        serde_json::from_value(serde_json::Value::String(text.to_string())).ok()
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `error` object of a failed run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunError {
    /// Short code, e.g. `wrf_fatal`, `wrf_crashed`, `stalled`, `lost`.
    pub status: String,
    pub message: String,
}

/// Transfer state of an input file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileState {
    /// Stored whole and usable.
    Complete,
    /// A presigned upload or `upload_url` transfer is in progress.
    Pending,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputFile {
    pub fileid: Id,
    pub filename: String,
    pub size: u64,
    pub state: FileState,
    /// Source URL of an `upload_url` transfer, without its query string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_url: Option<String>,
    /// Reason a transfer failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutputFile {
    pub filename: String,
    pub size: u64,
}

/// Per-domain model facts reported in `model`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    pub domain_shape: Vec<[i64; 3]>,
    pub domains: usize,
    #[serde(serialize_with = "numbers")]
    pub dt: Vec<f64>,
    #[serde(serialize_with = "numbers")]
    pub dx: Vec<f64>,
    #[serde(serialize_with = "numbers")]
    pub dy: Vec<f64>,
    pub end_time: Vec<String>,
    pub name: String,
    #[serde(serialize_with = "numbers")]
    pub output_interval: Vec<f64>,
    pub start_time: Vec<String>,
    pub version: String,
}

/// Writes whole numbers without a fraction (`60`, not `60.0`), others rounded to 6 significant decimals.
fn numbers<S: Serializer>(values: &[f64], serializer: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeSeq;
    let mut seq = serializer.serialize_seq(Some(values.len()))?;
    for value in values {
        if value.fract() == 0.0 && value.abs() < 1e15 {
            seq.serialize_element(&(*value as i64))?;
        } else {
            let rounded: f64 = format!("{value:.6}").parse().unwrap_or(*value);
            seq.serialize_element(&rounded)?;
        }
    }
    seq.end()
}

/// The stored run: the API's run object plus internal fields that users never get.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Run {
    pub id: Id,
    pub owner: String,
    /// Incremented on every write; stores update only if it is unchanged (optimistic locking).
    pub revision: u64,
    pub status: Status,
    pub version: String,
    pub compute_options: Vec<ComputeOption>,
    pub cores: Option<i64>,
    pub error: Option<RunError>,
    pub input_files: Vec<InputFile>,
    pub model: Option<ModelInfo>,
    pub output_files: Vec<OutputFile>,
    pub percent_complete: Option<f64>,
    pub remaining_time: Option<i64>,
    pub required_input_files: Vec<String>,
    pub time_created: String,
    pub time_started: Option<String>,
    pub time_stopped: Option<String>,
    /// Engine that executes the run: `wrf` or `dry-run` (no model, imitation output).
    pub engine: Option<String>,
    /// Scheduler's handle for the job (Batch job id, or local process id and start time).
    pub job_id: Option<String>,
    /// Whether `ideal.exe` must run before `wrf.exe`.
    #[serde(default)]
    pub ideal: bool,
    /// Presigned uploads awaiting their completion call; not shown to users.
    #[serde(default)]
    pub pending_uploads: Vec<PendingUpload>,
}

/// A presigned upload that has not been completed yet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingUpload {
    pub fileid: Id,
    pub filename: String,
    pub size: u64,
    pub expires_at: String,
}

impl Run {
    pub fn new(owner: &str, version: &str) -> Run {
        Run {
            id: Id::new_random(),
            owner: owner.to_string(),
            revision: 0,
            status: Status::Created,
            version: version.to_string(),
            compute_options: Vec::new(),
            cores: None,
            error: None,
            input_files: Vec::new(),
            model: None,
            output_files: Vec::new(),
            percent_complete: None,
            remaining_time: None,
            required_input_files: vec!["namelist.input".to_string()],
            time_created: WrfTime::now().to_string(),
            time_started: None,
            time_stopped: None,
            engine: None,
            job_id: None,
            ideal: false,
            pending_uploads: Vec::new(),
        }
    }

    /// Files of `required_input_files` not yet stored whole.
    pub fn missing_inputs(&self) -> Vec<String> {
        self.required_input_files
            .iter()
            .filter(|name| {
                !self.input_files.iter().any(|f| &f.filename == *name && f.state == FileState::Complete)
            })
            .cloned()
            .collect()
    }

    pub fn output_size(&self) -> u64 {
        self.output_files.iter().map(|f| f.size).sum()
    }

    /// Moves the run to a finished status and stamps `time_stopped`.
    pub fn finish(&mut self, status: Status, error: Option<RunError>) {
        self.status = status;
        self.error = error;
        self.time_stopped = Some(WrfTime::now().to_string());
        if status == Status::Done {
            self.percent_complete = Some(100.0);
            self.remaining_time = Some(0);
        }
    }

    /// Returns the JSON run object of the API.
    pub fn view(&self) -> serde_json::Value {
        let input_files: Vec<serde_json::Value> = self
            .input_files
            .iter()
            .map(|f| {
                let mut entry = serde_json::json!({
                    "fileid": f.fileid, "filename": f.filename, "size": f.size, "state": f.state,
                });
                if let Some(error) = &f.error {
                    entry["error"] = serde_json::Value::String(error.clone());
                }
                if let Some(url) = &f.source_url {
                    entry["source_url"] = serde_json::Value::String(url.clone());
                }
                entry
            })
            .collect();
        serde_json::json!({
            "compute_options": self.compute_options,
            "cores": self.cores,
            "engine": self.engine,
            "error": self.error,
            "id": self.id,
            "input_files": input_files,
            "model": self.model,
            "output_files": self.output_files,
            "output_size": self.output_size(),
            "percent_complete": self.percent_complete,
            "remaining_time": self.remaining_time,
            "required_input_files": self.required_input_files,
            "status": self.status,
            "time_created": self.time_created,
            "time_started": self.time_started,
            "time_stopped": self.time_stopped,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_32_lower_hex() {
        let id = Id::new_random();
        assert_eq!(id.as_str().len(), 32);
        assert!(id.as_str().parse::<Id>().is_ok());
        assert!("ABCDEF0123456789abcdef0123456789".parse::<Id>().is_err());
        assert!("../etc/passwd".parse::<Id>().is_err());
    }

    #[test]
    fn new_run_requires_namelist() {
        let run = Run::new("alice", "4.7.1");
        assert_eq!(run.status, Status::Created);
        assert_eq!(run.missing_inputs(), vec!["namelist.input".to_string()]);
        let view = run.view();
        assert!(view.get("owner").is_none(), "owner stays internal");
        assert_eq!(view["percent_complete"], serde_json::Value::Null);
    }

    #[test]
    fn whole_numbers_serialize_without_fraction() {
        let model = ModelInfo {
            domain_shape: vec![[30, 240, 320]],
            domains: 1,
            dt: vec![60.0, 10.0 / 3.0],
            dx: vec![12000.0],
            dy: vec![12000.0],
            end_time: vec![],
            name: "wrf".into(),
            output_interval: vec![60.0],
            start_time: vec![],
            version: "3.9".into(),
        };
        let json = serde_json::to_string(&model).expect("serializes");
        assert!(json.contains("\"dt\":[60,3.333333]"), "{json}");
        assert!(json.contains("\"dx\":[12000]"), "{json}");
    }
}
