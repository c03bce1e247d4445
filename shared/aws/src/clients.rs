//! The AWS SDK clients, built once per process from the settings.

use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_config::BehaviorVersion;
use aws_sdk_s3::config::RequestChecksumCalculation;

use crate::settings::Settings;

/// One client per AWS service cloudrun uses.
#[derive(Clone, Debug)]
pub struct Clients {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub s3: aws_sdk_s3::Client,
    pub batch: aws_sdk_batch::Client,
    pub sqs: aws_sdk_sqs::Client,
}

impl Clients {
    /// Loads region and credentials the SDK's usual way and applies `AWS_ENDPOINT_URL` from the settings.
    pub async fn load(settings: &Settings) -> Clients {
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(3))
            .operation_attempt_timeout(Duration::from_secs(20))
            .build();
        let mut loader = aws_config::defaults(BehaviorVersion::latest()).timeout_config(timeouts);
        if let Some(url) = &settings.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        Self::from_shared(settings, &loader.load().await)
    }

    /// Builds the clients from an already loaded SDK configuration.
    pub fn from_shared(settings: &Settings, shared: &aws_config::SdkConfig) -> Clients {
        // Emulators serve every bucket under one host, so bucket names go in the path there.
        // Checksums are sent only where S3 requires them, which keeps presigned URLs free of checksum parameters.
        let s3_config = aws_sdk_s3::config::Builder::from(shared)
            .force_path_style(settings.endpoint_url.is_some())
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .build();
        Clients {
            dynamodb: aws_sdk_dynamodb::Client::new(shared),
            s3: aws_sdk_s3::Client::from_conf(s3_config),
            batch: aws_sdk_batch::Client::new(shared),
            sqs: aws_sdk_sqs::Client::new(shared),
        }
    }
}
