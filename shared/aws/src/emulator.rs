//! A whole deployment's resources created in a local AWS emulator (moto server), for tests and
//! for trying the functions on one machine. `scripts/moto.sh` starts the emulator.
//!
//! Only endpoints on 127.0.0.1 are accepted, so nothing here can create resources in a real account.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_batch::types::{
    CeState, CeType, ComputeEnvironmentOrder, ContainerProperties, JobDefinitionType, JqState, NodeProperties,
    NodeRangeProperty, ResourceRequirement, ResourceType,
};
use aws_sdk_s3::config::Credentials;
use cloudrun_core::config::Config;

use crate::clients::Clients;
use crate::settings::Settings;

/// An emulator endpoint and an SDK configuration with dummy credentials pointing at it.
#[derive(Clone, Debug)]
pub struct Emulator {
    pub endpoint: String,
    pub shared: SdkConfig,
}

impl Emulator {
    /// Reads `AWS_ENDPOINT_URL`, which must name a server on 127.0.0.1.
    pub fn from_env() -> Result<Emulator, String> {
        let endpoint = std::env::var("AWS_ENDPOINT_URL").ok().filter(|u| !u.is_empty()).ok_or(
            "AWS_ENDPOINT_URL is not set; start moto with `eval \"$(scripts/moto.sh)\"` or run scripts/test-aws.sh",
        )?;
        if !endpoint.starts_with("http://127.0.0.1:") {
            return Err(format!("AWS_ENDPOINT_URL must be an emulator at http://127.0.0.1:PORT, got `{endpoint}`"));
        }
        Ok(Emulator::new(&endpoint))
    }

    pub fn new(endpoint: &str) -> Emulator {
        let shared = SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(Credentials::new(
                "testing", "testing", None, None, "emulator",
            )))
            .endpoint_url(endpoint)
            .build();
        Emulator { endpoint: endpoint.to_string(), shared }
    }

    /// Creates a table, bucket, transfer queue and Batch queue and job definition named after
    /// `prefix`, and returns settings and clients for them.
    pub async fn create_deployment(&self, prefix: &str, config: Config) -> Result<(Settings, Clients), String> {
        let mut settings = Settings {
            table: format!("{prefix}-runs"),
            bucket: format!("{prefix}-files"),
            job_queues: Default::default(),
            job_definitions: Default::default(),
            fetch_queue_url: String::new(),
            endpoint_url: Some(self.endpoint.clone()),
            config,
        };
        let clients = Clients::from_shared(&settings, &self.shared);
        crate::dynamo::create_table(&clients.dynamodb, &settings.table).await?;
        clients.s3.create_bucket().bucket(&settings.bucket).send().await.map_err(display)?;
        let queue = clients.sqs.create_queue().queue_name(format!("{prefix}-fetch")).send().await.map_err(display)?;
        settings.fetch_queue_url = queue.queue_url().unwrap_or_default().to_string();

        let (job_queue, job_definition) = self.create_batch(&clients, prefix).await?;
        for version in &settings.config.wrf.versions {
            settings.job_queues.insert(version.clone(), job_queue.clone());
            settings.job_definitions.insert(version.clone(), job_definition.clone());
        }
        Ok((settings, clients))
    }

    /// Creates an unmanaged compute environment (which needs no subnets or instances), a queue
    /// on it, and a multi-node job definition.
    async fn create_batch(&self, clients: &Clients, prefix: &str) -> Result<(String, String), String> {
        let role = self.create_role(&format!("{prefix}-batch")).await?;
        let environment = clients
            .batch
            .create_compute_environment()
            .compute_environment_name(format!("{prefix}-ce"))
            .r#type(CeType::Unmanaged)
            .state(CeState::Enabled)
            .service_role(role)
            .send()
            .await
            .map_err(display)?;
        let order = ComputeEnvironmentOrder::builder()
            .order(1)
            .compute_environment(environment.compute_environment_arn().unwrap_or_default())
            .build();
        let queue = clients
            .batch
            .create_job_queue()
            .job_queue_name(format!("{prefix}-queue"))
            .state(JqState::Enabled)
            .priority(1)
            .compute_environment_order(order)
            .send()
            .await
            .map_err(display)?;
        let definition = clients
            .batch
            .register_job_definition()
            .job_definition_name(format!("{prefix}-wrf"))
            .r#type(JobDefinitionType::Multinode)
            .node_properties(node_properties())
            .send()
            .await
            .map_err(display)?;
        Ok((queue.job_queue_name().unwrap_or_default().to_string(), definition.job_definition_name().unwrap_or_default().to_string()))
    }

    /// Creates an IAM role through the emulator's query API; the Batch SDK needs only its ARN.
    async fn create_role(&self, name: &str) -> Result<String, String> {
        let form = [
            ("Action", "CreateRole"),
            ("Version", "2010-05-08"),
            ("RoleName", name),
            ("AssumeRolePolicyDocument", r#"{"Version":"2012-10-17","Statement":[]}"#),
        ];
        // The emulator routes a request by the service named in its credential scope and does not check the signature.
        let scope = "AWS4-HMAC-SHA256 Credential=testing/20240101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0";
        let response = reqwest::Client::new()
            .post(format!("{}/", self.endpoint))
            .header("Authorization", scope)
            .form(&form)
            .send()
            .await
            .map_err(|e| format!("CreateRole failed: {e}"))?;
        let text = response.text().await.map_err(|e| format!("CreateRole failed: {e}"))?;
        let arn = text.split("<Arn>").nth(1).and_then(|rest| rest.split("</Arn>").next());
        arn.map(str::to_string).ok_or_else(|| format!("CreateRole returned no ARN: {text}"))
    }
}

fn node_properties() -> NodeProperties {
    let resources = [(ResourceType::Vcpu, "36"), (ResourceType::Memory, "180000")]
        .map(|(kind, value)| ResourceRequirement::builder().r#type(kind).value(value).build());
    let container = ContainerProperties::builder()
        .image("cloudrun-worker:latest")
        .command("cloudrun-worker")
        .command("Ref::run_id")
        .command("Ref::cores")
        .set_resource_requirements(Some(resources.to_vec()))
        .build();
    let range = NodeRangeProperty::builder().target_nodes("0:").container(container).build();
    NodeProperties::builder().num_nodes(1).main_node(0).node_range_properties(range).build()
}

fn display(error: impl std::error::Error) -> String {
    aws_sdk_s3::error::DisplayErrorContext(error).to_string()
}
