//! AWS Batch adapter of the scheduler: one multi-node parallel job per run, MPI across the nodes.
//!
//! The job gets the run id and core count as parameters (`Ref::run_id` and `Ref::cores` in the job
//! definition's command) and the run id as the tag `cloudrun-run-id`, which Batch copies to its
//! instances, and which the state-change events carry back.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_batch::types::NodeOverrides;
use aws_sdk_batch::Client;
use cloudrun_core::ports::{Scheduler, SchedulerError};
use cloudrun_core::run::Run;

use crate::settings::Settings;

/// Parameter and tag that carry the run id.
pub const RUN_ID_PARAMETER: &str = "run_id";
pub const RUN_ID_TAG: &str = "cloudrun-run-id";

/// Submits and terminates the Batch jobs of runs.
#[derive(Clone, Debug)]
pub struct BatchScheduler {
    client: Client,
    job_queues: BTreeMap<String, String>,
    job_definitions: BTreeMap<String, String>,
    cores_per_node: i64,
}

impl BatchScheduler {
    pub fn new(client: Client, settings: &Settings) -> BatchScheduler {
        BatchScheduler {
            client,
            job_queues: settings.job_queues.clone(),
            job_definitions: settings.job_definitions.clone(),
            cores_per_node: settings.config.compute.cores_per_node.max(1),
        }
    }

    /// Nodes for `cores` MPI ranks: whole nodes, enough for every rank.
    pub fn nodes_for(&self, cores: i64) -> i64 {
        (cores.max(1) + self.cores_per_node - 1) / self.cores_per_node
    }
}

fn error(context: &str, error: impl std::error::Error) -> SchedulerError {
    SchedulerError(format!("{context}: {}", aws_sdk_batch::error::DisplayErrorContext(error)))
}

#[async_trait]
impl Scheduler for BatchScheduler {
    fn engine(&self) -> String {
        "wrf".into()
    }

    async fn submit(&self, run: &Run) -> Result<String, SchedulerError> {
        let missing = || SchedulerError(format!("no Batch job queue or job definition for WRF version {}", run.version));
        let queue = self.job_queues.get(&run.version).ok_or_else(missing)?;
        let definition = self.job_definitions.get(&run.version).ok_or_else(missing)?;
        let cores = run.cores.ok_or_else(|| SchedulerError(format!("run {} has no core count", run.id)))?;
        let nodes = i32::try_from(self.nodes_for(cores)).map_err(|_| SchedulerError(format!("{cores} cores is too many")))?;
        let output = self
            .client
            .submit_job()
            .job_name(format!("cloudrun-{}", run.id))
            .job_queue(queue)
            .job_definition(definition)
            .node_overrides(NodeOverrides::builder().num_nodes(nodes).build())
            .parameters(RUN_ID_PARAMETER, run.id.as_str())
            .parameters("cores", cores.to_string())
            .tags(RUN_ID_TAG, run.id.as_str())
            .propagate_tags(true)
            .send()
            .await
            .map_err(|e| error("SubmitJob failed", e))?;
        output.job_id().map(str::to_string).ok_or_else(|| SchedulerError("SubmitJob returned no job id".into()))
    }

    async fn terminate(&self, run: &Run) -> Result<(), SchedulerError> {
        // NOTE: a run stopped before its job id was stored has no job to name here; the event
        // handler terminates such a job when its first state change arrives for the stopped run.
        let Some(job_id) = &run.job_id else {
            return Ok(());
        };
        let request = self.client.terminate_job().job_id(job_id).reason("stopped by the user");
        request.send().await.map_err(|e| error("TerminateJob failed", e))?;
        Ok(())
    }
}
