//! The worker's settings from its environment, read in this one place.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use cloudrun_aws::clients::Clients;
use cloudrun_aws::dynamo::DynamoStore;
use cloudrun_aws::s3::{S3FileStore, S3Options};
use cloudrun_aws::settings::Settings;
use cloudrun_core::config::Config;
use cloudrun_core::ports::{FileStore, RunStore};
use cloudrun_core::run::Id;
use cloudrun_worker::job::JobSettings;
use cloudrun_worker::node::NodeEnv;

pub struct WorkerSettings {
    pub run_id: Option<Id>,
    pub table: Option<String>,
    pub bucket: Option<String>,
    pub endpoint_url: Option<String>,
    pub wrf_dir: Option<PathBuf>,
    pub mpirun: String,
    pub mpirun_args: Vec<String>,
    pub slots: usize,
    pub scratch: PathBuf,
    pub poll: Duration,
    pub stall: Duration,
    pub rendezvous_timeout: Duration,
    /// Maximum duration of one AWS request attempt, so that an outage turns into retries quickly.
    pub aws_timeout: Duration,
}

fn number(lookup: &dyn Fn(&str) -> Option<String>, name: &str, default: u64) -> Result<u64, String> {
    match lookup(name) {
        None => Ok(default),
        Some(text) => text.trim().parse().map_err(|_| format!("{name} must be a whole number, got `{text}`")),
    }
}

impl WorkerSettings {
    /// Reads the settings; `--run-id ID` on the command line wins over `CLOUDRUN_RUN_ID`.
    pub fn from_env(lookup: &dyn Fn(&str) -> Option<String>, args: Vec<String>) -> Result<WorkerSettings, String> {
        let from_args = args.windows(2).find(|w| w[0] == "--run-id").map(|w| w[1].clone());
        let run_id = match from_args.or_else(|| lookup("CLOUDRUN_RUN_ID")) {
            Some(text) => Some(text.parse().map_err(|_| format!("invalid run id `{text}`; expected 32 hex digits"))?),
            None => None,
        };
        let cpus = std::thread::available_parallelism().map(|n| n.get() as u64).unwrap_or(1);
        Ok(WorkerSettings {
            run_id,
            table: lookup("CLOUDRUN_TABLE"),
            bucket: lookup("CLOUDRUN_BUCKET"),
            endpoint_url: lookup("AWS_ENDPOINT_URL").filter(|u| !u.is_empty()),
            wrf_dir: lookup("WRF_DIR").filter(|d| !d.is_empty()).map(PathBuf::from),
            mpirun: lookup("CLOUDRUN_MPIRUN").unwrap_or_else(|| "mpirun".into()),
            mpirun_args: lookup("CLOUDRUN_MPIRUN_ARGS").map(|a| a.split_whitespace().map(str::to_string).collect()).unwrap_or_default(),
            slots: number(lookup, "CLOUDRUN_SLOTS", cpus)? as usize,
            scratch: lookup("CLOUDRUN_SCRATCH").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/scratch")),
            poll: Duration::from_millis(number(lookup, "CLOUDRUN_POLL_MILLISECONDS", 5000)?.max(50)),
            stall: Duration::from_secs(number(lookup, "CLOUDRUN_STALL_SECONDS", 1800)?),
            rendezvous_timeout: Duration::from_secs(number(lookup, "CLOUDRUN_RENDEZVOUS_TIMEOUT_SECONDS", 600)?),
            aws_timeout: Duration::from_secs(number(lookup, "CLOUDRUN_AWS_TIMEOUT_SECONDS", 20)?.max(1)),
        })
    }

    /// Builds the run store and file store of the deployment (main node only).
    pub async fn stores(&self) -> (Arc<dyn RunStore>, Arc<dyn FileStore>) {
        let settings = Settings {
            table: self.table.clone().unwrap_or_default(),
            bucket: self.bucket.clone().unwrap_or_default(),
            job_queues: Default::default(),
            job_definitions: Default::default(),
            fetch_queue_url: String::new(),
            endpoint_url: self.endpoint_url.clone(),
            config: Config::default(),
        };
        let timeouts = aws_config::timeout::TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(3))
            .operation_attempt_timeout(self.aws_timeout)
            .build();
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest()).timeout_config(timeouts);
        if let Some(url) = &self.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        let clients = Clients::from_shared(&settings, &loader.load().await);
        let store = DynamoStore::new(clients.dynamodb.clone(), &settings.table);
        let files = S3FileStore::new(clients.s3.clone(), &settings.bucket, S3Options::from_config(&settings.config.uploads));
        (Arc::new(store), Arc::new(files))
    }

    pub fn job_settings(&self, node: &NodeEnv) -> Result<JobSettings, String> {
        let run_id = self.run_id.clone().ok_or("CLOUDRUN_RUN_ID is missing; the job definition passes it as --run-id")?;
        let nodes = match node.role {
            cloudrun_worker::node::Role::Main { nodes } => nodes,
            cloudrun_worker::node::Role::Child { .. } => 1,
        };
        Ok(JobSettings {
            work_dir: self.scratch.join(run_id.as_str()),
            run_id,
            wrf_dir: self.wrf_dir.clone(),
            mpirun: self.mpirun.clone(),
            mpirun_args: self.mpirun_args.clone(),
            poll: self.poll,
            stall: self.stall,
            dry_run_seconds: 8.0,
            max_logged_steps: 2000,
            nodes,
            node_index: node.index,
            rendezvous_bind: format!("0.0.0.0:{}", node.rendezvous_port),
            rendezvous_timeout: self.rendezvous_timeout,
            node_address: node.address.clone(),
            slots: self.slots,
        })
    }

    /// Checks the stores' variables the main node needs, naming the missing one.
    pub fn validate_main(&self) -> Result<(), String> {
        if self.table.is_none() {
            return Err("CLOUDRUN_TABLE is missing; set it to the deployment's DynamoDB table".into());
        }
        if self.bucket.is_none() {
            return Err("CLOUDRUN_BUCKET is missing; set it to the deployment's S3 bucket".into());
        }
        Ok(())
    }
}
