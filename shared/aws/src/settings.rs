//! Configuration of the AWS deployment, read from environment variables in this one place.
//!
//! Variables:
//! - `CLOUDRUN_TABLE` (required): DynamoDB table of runs and tokens.
//! - `CLOUDRUN_BUCKET` (required): S3 bucket of input and output files.
//! - `CLOUDRUN_JOB_QUEUES` (required): Batch job queue per WRF version, as
//!   `VERSION=QUEUE,VERSION=QUEUE`; the entry `*=QUEUE` serves every version.
//! - `CLOUDRUN_JOB_DEFINITIONS` (required): Batch job definition per WRF version, in the same form.
//! - `CLOUDRUN_FETCH_QUEUE_URL` (required): SQS queue URL that `upload_url` sends transfers to.
//! - `CLOUDRUN_CONFIG` (optional): cloudrun's configuration as TOML text, with the keys of the
//!   local `cloudrun.toml` (`[wrf]`, `[compute]`, `[estimate]`, `[uploads]`, `[upload_url]`).
//! - `CLOUDRUN_INSTANCE_TYPE`, `CLOUDRUN_CORES_PER_NODE`, `CLOUDRUN_MAX_NODES` (optional): override
//!   `compute.instance_type`, `compute.cores_per_node` and `compute.max_nodes`, so that prices and
//!   node counts match the Batch compute environment.
//! - `AWS_ENDPOINT_URL` (optional): endpoint of every AWS service, for an emulator such as moto;
//!   S3 then uses path-style addressing.
//! - `AWS_REGION` and the credentials: read by the AWS SDK as usual.

use std::collections::BTreeMap;

use cloudrun_core::config::Config;

/// A missing or invalid environment variable, named in the message.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("environment variable `{name}` is missing; set it to {expected}")]
    Missing { name: &'static str, expected: &'static str },
    #[error("environment variable `{name}` is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
}

/// Everything the AWS adapters and functions need to know about their deployment.
#[derive(Debug, Clone)]
pub struct Settings {
    pub table: String,
    pub bucket: String,
    /// Batch job queue by WRF version.
    pub job_queues: BTreeMap<String, String>,
    /// Batch job definition by WRF version.
    pub job_definitions: BTreeMap<String, String>,
    pub fetch_queue_url: String,
    pub endpoint_url: Option<String>,
    pub config: Config,
}

type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

impl Settings {
    /// Reads the settings from the process environment.
    pub fn from_env() -> Result<Settings, SettingsError> {
        Self::from_lookup(&|name| std::env::var(name).ok())
    }

    /// Reads the settings through `lookup`, which returns a variable's value.
    pub fn from_lookup(lookup: Lookup) -> Result<Settings, SettingsError> {
        let config = load_config(lookup)?;
        let settings = Settings {
            table: required(lookup, "CLOUDRUN_TABLE", "the DynamoDB table name")?,
            bucket: required(lookup, "CLOUDRUN_BUCKET", "the S3 bucket name")?,
            job_queues: version_map(lookup, "CLOUDRUN_JOB_QUEUES", &config)?,
            job_definitions: version_map(lookup, "CLOUDRUN_JOB_DEFINITIONS", &config)?,
            fetch_queue_url: required(lookup, "CLOUDRUN_FETCH_QUEUE_URL", "the SQS queue URL of upload_url transfers")?,
            endpoint_url: optional(lookup, "AWS_ENDPOINT_URL"),
            config,
        };
        Ok(settings)
    }
}

fn optional(lookup: Lookup, name: &str) -> Option<String> {
    lookup(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
}

fn required(lookup: Lookup, name: &'static str, expected: &'static str) -> Result<String, SettingsError> {
    optional(lookup, name).ok_or(SettingsError::Missing { name, expected })
}

fn load_config(lookup: Lookup) -> Result<Config, SettingsError> {
    let invalid = |name: &'static str, reason: String| SettingsError::Invalid { name, reason };
    let mut config: Config = match optional(lookup, "CLOUDRUN_CONFIG") {
        Some(text) => toml::from_str(&text).map_err(|e| invalid("CLOUDRUN_CONFIG", e.to_string()))?,
        None => Config::default(),
    };
    if let Some(instance_type) = optional(lookup, "CLOUDRUN_INSTANCE_TYPE") {
        config.compute.instance_type = instance_type;
    }
    for (name, target) in [
        ("CLOUDRUN_CORES_PER_NODE", &mut config.compute.cores_per_node),
        ("CLOUDRUN_MAX_NODES", &mut config.compute.max_nodes),
    ] {
        if let Some(text) = optional(lookup, name) {
            *target = text.parse().map_err(|_| invalid(name, format!("`{text}` is not a whole number")))?;
        }
    }
    config.validate().map_err(|e| invalid("CLOUDRUN_CONFIG", e.to_string()))?;
    Ok(config)
}

/// Parses `VERSION=VALUE,...` and checks that every WRF version of `config` has a value.
fn version_map(lookup: Lookup, name: &'static str, config: &Config) -> Result<BTreeMap<String, String>, SettingsError> {
    let text = required(lookup, name, "VERSION=NAME pairs separated by commas, or *=NAME for every version")?;
    let mut entries = BTreeMap::new();
    for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let Some((version, value)) = entry.split_once('=').filter(|(v, n)| !v.trim().is_empty() && !n.trim().is_empty())
        else {
            return Err(SettingsError::Invalid { name, reason: format!("entry `{entry}` is not of the form VERSION=NAME") });
        };
        entries.insert(version.trim().to_string(), value.trim().to_string());
    }
    let fallback = entries.get("*").cloned();
    let mut map = BTreeMap::new();
    for version in &config.wrf.versions {
        let value = entries.get(version).cloned().or_else(|| fallback.clone()).ok_or_else(|| SettingsError::Invalid {
            name,
            reason: format!("no entry for WRF version `{version}`; add `{version}=NAME` or `*=NAME`"),
        })?;
        map.insert(version.clone(), value);
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Result<Settings, SettingsError> {
        let pairs: Vec<(String, String)> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Settings::from_lookup(&move |name| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
    }

    const COMPLETE: [(&str, &str); 5] = [
        ("CLOUDRUN_TABLE", "runs"),
        ("CLOUDRUN_BUCKET", "files"),
        ("CLOUDRUN_JOB_QUEUES", "*=wrf-queue"),
        ("CLOUDRUN_JOB_DEFINITIONS", "*=wrf-4,3.9=wrf-3"),
        ("CLOUDRUN_FETCH_QUEUE_URL", "http://127.0.0.1:1/queue/fetch"),
    ];

    #[test]
    fn complete_environment_parses() {
        let settings = settings(&COMPLETE).expect("valid");
        assert_eq!(settings.job_definitions["3.9"], "wrf-3");
        assert_eq!(settings.job_definitions["4.7.1"], "wrf-4");
        assert_eq!(settings.job_queues["3.8.1"], "wrf-queue");
        assert_eq!(settings.endpoint_url, None);
    }

    #[test]
    fn missing_variable_is_named() {
        let error = settings(&COMPLETE[1..]).expect_err("no table").to_string();
        assert!(error.contains("CLOUDRUN_TABLE"), "{error}");
    }

    #[test]
    fn version_without_definition_is_named() {
        let mut pairs = COMPLETE.to_vec();
        pairs[3] = ("CLOUDRUN_JOB_DEFINITIONS", "3.9=wrf-3");
        let error = settings(&pairs).expect_err("3.8.1 and 4.7.1 missing").to_string();
        assert!(error.contains("CLOUDRUN_JOB_DEFINITIONS"), "{error}");
        assert!(error.contains("no entry for WRF version `3.8.1`"), "{error}");
    }

    #[test]
    fn compute_overrides_apply() {
        let mut pairs = COMPLETE.to_vec();
        pairs.push(("CLOUDRUN_CORES_PER_NODE", "48"));
        pairs.push(("CLOUDRUN_CONFIG", "[wrf]\nversions = [\"4.7.1\"]\ndefault_version = \"4.7.1\"\n"));
        let settings = settings(&pairs).expect("valid");
        assert_eq!(settings.config.compute.cores_per_node, 48);
        assert_eq!(settings.config.wrf.versions, vec!["4.7.1".to_string()]);
        pairs.push(("CLOUDRUN_MAX_NODES", "many"));
        let error = self::settings(&pairs).expect_err("not a number").to_string();
        assert!(error.contains("CLOUDRUN_MAX_NODES"), "{error}");
    }
}
