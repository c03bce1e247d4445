//! cloudrun's configuration: one TOML file, every key optional, defaults below.
//!
//! `docs/configuration.md` lists every key; `cloudrun config` prints the
//! effective values. The environment variable `WRF_DIR` overrides
//! `runner.wrf_dir`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub wrf: WrfConfig,
    pub compute: ComputeConfig,
    pub estimate: EstimateConfig,
    pub uploads: UploadConfig,
    pub upload_url: UploadUrlConfig,
    pub runner: RunnerConfig,
}

/// Supported WRF versions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WrfConfig {
    /// Versions a run may ask for; each needs a WRF build (locally) or a Batch job definition (AWS).
    pub versions: Vec<String>,
    /// Version used when `create` gives none.
    pub default_version: String,
}

impl Default for WrfConfig {
    fn default() -> Self {
        WrfConfig {
            versions: vec!["3.8.1".into(), "3.9".into(), "4.7.1".into()],
            default_version: "4.7.1".into(),
        }
    }
}

/// Core counts and prices.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ComputeConfig {
    /// Core counts to offer; empty means powers of two up to the cluster size plus whole nodes.
    pub core_ladder: Vec<i64>,
    /// Largest cluster, in nodes.
    pub max_nodes: i64,
    pub instance_type: String,
    pub cores_per_node: i64,
    /// On-demand price of one instance in USD per hour.
    pub usd_per_hour: f64,
    /// Billing step in seconds (EC2 bills per second).
    pub billing_granularity_seconds: i64,
    /// Shortest billed time in seconds (EC2 bills at least 60 s).
    pub minimum_billed_seconds: i64,
    /// Billed time before WRF starts (instance boot, staging), in seconds.
    pub startup_seconds: f64,
}

impl Default for ComputeConfig {
    fn default() -> Self {
        ComputeConfig {
            core_ladder: Vec::new(),
            max_nodes: 4,
            instance_type: "c5n.18xlarge".into(),
            cores_per_node: 36,
            // NOTE: us-east-1 Linux on-demand list price as last published; check it before billing anyone.
            usd_per_hour: 3.888,
            billing_granularity_seconds: 1,
            minimum_billed_seconds: 60,
            startup_seconds: 180.0,
        }
    }
}

/// Run-time model: `init + output + work * k * (s + (1 - s) / cores)`.
///
/// The defaults reproduce the API reference's example times (320 x 240 x 30
/// points, dt 60 s, 24 h) within 0.1 %, i.e. about 3.8 microseconds per mass
/// point and step on one core with 7.4 % serial work.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EstimateConfig {
    /// Seconds one core spends on one mass-grid point for one time step (`k`).
    pub seconds_per_point_step: f64,
    /// Share of the work that does not speed up with more cores (`s`).
    pub serial_fraction: f64,
    /// Start-up time of wrf.exe in seconds.
    pub init_seconds: f64,
    /// Seconds to write one history frame per million mass points.
    pub output_seconds_per_million_points: f64,
}

impl Default for EstimateConfig {
    fn default() -> Self {
        EstimateConfig {
            seconds_per_point_step: 3.83e-6,
            serial_fraction: 0.0742,
            init_seconds: 10.0,
            output_seconds_per_million_points: 0.2,
        }
    }
}

/// Limits of direct and presigned uploads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UploadConfig {
    /// Largest body accepted by `POST /upload` itself; larger files use the presigned flow.
    pub max_direct_bytes: u64,
    /// Largest file accepted at all.
    pub max_file_bytes: u64,
    /// Largest `namelist.input`.
    pub max_namelist_bytes: u64,
    /// Lifetime of a presigned upload or download URL, in seconds.
    pub presigned_url_seconds: u64,
    /// Above this size, presigned uploads are split into parts (S3 allows at most 5 GiB per PUT).
    pub multipart_threshold_bytes: u64,
    /// Size of each part of a multipart upload.
    pub part_bytes: u64,
}

impl Default for UploadConfig {
    fn default() -> Self {
        UploadConfig {
            max_direct_bytes: 6 * 1024 * 1024,
            max_file_bytes: 1024 * 1024 * 1024 * 1024,
            max_namelist_bytes: 1024 * 1024,
            presigned_url_seconds: 3600,
            multipart_threshold_bytes: 5 * 1024 * 1024 * 1024,
            part_bytes: 512 * 1024 * 1024,
        }
    }
}

/// Limits of `upload_url` transfers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UploadUrlConfig {
    pub max_bytes: u64,
    /// Maximum duration of one transfer, in seconds.
    pub timeout_seconds: u64,
    pub max_redirects: usize,
    /// Networks (CIDR) allowed even though they are private or loopback; empty by default.
    pub allowed_networks: Vec<String>,
}

impl Default for UploadUrlConfig {
    fn default() -> Self {
        UploadUrlConfig {
            max_bytes: 100 * 1024 * 1024 * 1024,
            timeout_seconds: 6 * 3600,
            max_redirects: 5,
            allowed_networks: Vec::new(),
        }
    }
}

/// The local runner.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RunnerConfig {
    /// A WRF build (with `main/wrf.exe` and `run/`); unset means the dry-run engine.
    pub wrf_dir: Option<PathBuf>,
    /// MPI launcher.
    pub mpirun: String,
    /// Extra launcher arguments, placed before `-np`.
    pub mpirun_args: Vec<String>,
    /// How often the runner reads the logs and output directory, in milliseconds.
    pub poll_milliseconds: u64,
    /// A run whose rsl log does not grow for this long is ended as `error`, in seconds.
    pub stall_seconds: u64,
    /// Wall time the dry-run engine spends on a whole run, in seconds.
    pub dry_run_seconds: f64,
    /// The dry-run engine logs at most this many steps per domain.
    pub dry_run_max_logged_steps: u64,
    /// Worker processes per run, acting as the nodes of a multi-node job on this machine
    /// (addresses 127.0.0.1, 127.0.0.2, ...). More than 1 exercises the multi-node path.
    pub nodes: usize,
    /// MPI ranks each node offers in the hostfile of a multi-node run.
    pub slots_per_node: usize,
    /// Seconds the main node waits for the other nodes to announce themselves.
    pub rendezvous_timeout_seconds: u64,
}

impl Default for RunnerConfig {
    fn default() -> Self {
        RunnerConfig {
            wrf_dir: None,
            mpirun: "mpirun".into(),
            mpirun_args: Vec::new(),
            poll_milliseconds: 500,
            stall_seconds: 1800,
            dry_run_seconds: 8.0,
            dry_run_max_logged_steps: 2000,
            nodes: 1,
            slots_per_node: 1,
            rendezvous_timeout_seconds: 300,
        }
    }
}

/// A configuration file that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read configuration file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("invalid configuration file {path}: {source}")]
    Parse { path: PathBuf, source: toml::de::Error },
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

impl Config {
    /// Loads `path` if given (defaults otherwise), then applies `WRF_DIR`.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let mut config = match path {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
                toml::from_str(&text).map_err(|source| ConfigError::Parse { path: path.to_path_buf(), source })?
            }
            None => Config::default(),
        };
        if let Some(dir) = std::env::var_os("WRF_DIR").filter(|d| !d.is_empty()) {
            config.runner.wrf_dir = Some(PathBuf::from(dir));
        }
        config.validate()?;
        Ok(config)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        let compute = &self.compute;
        if compute.cores_per_node < 1 || compute.max_nodes < 1 {
            return Err(ConfigError::Invalid("compute.cores_per_node and compute.max_nodes must be at least 1".into()));
        }
        if !(0.0..1.0).contains(&self.estimate.serial_fraction) {
            return Err(ConfigError::Invalid("estimate.serial_fraction must be in [0, 1)".into()));
        }
        if !self.wrf.versions.contains(&self.wrf.default_version) {
            return Err(ConfigError::Invalid(format!(
                "wrf.default_version `{}` is not in wrf.versions",
                self.wrf.default_version
            )));
        }
        Ok(())
    }

    /// Writes the effective configuration as TOML.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_default()
    }
}
