//! The AWS adapters assembled behind the core's ports.

use std::sync::Arc;

use cloudrun_core::api::Services;

use crate::batch::BatchScheduler;
use crate::clients::Clients;
use crate::dynamo::DynamoStore;
use crate::fetch::SqsFetcher;
use crate::s3::{S3FileStore, S3Options};
use crate::settings::Settings;

/// The services of one deployment, with the concrete stores for what the ports do not cover.
#[derive(Clone)]
pub struct Deployment {
    pub settings: Settings,
    pub services: Services,
    pub store: DynamoStore,
    pub files: S3FileStore,
}

impl Deployment {
    pub fn new(settings: Settings, clients: &Clients) -> Deployment {
        Self::with_file_options(settings, clients, None)
    }

    /// Like `new`, with S3 transfer sizes other than those derived from `[uploads]`.
    pub fn with_file_options(settings: Settings, clients: &Clients, options: Option<S3Options>) -> Deployment {
        let store = DynamoStore::new(clients.dynamodb.clone(), &settings.table);
        let options = options.unwrap_or_else(|| S3Options::from_config(&settings.config.uploads));
        let files = S3FileStore::new(clients.s3.clone(), &settings.bucket, options);
        let services = Services {
            config: Arc::new(settings.config.clone()),
            runs: Arc::new(store.clone()),
            tokens: Arc::new(store.clone()),
            files: Arc::new(files.clone()),
            scheduler: Arc::new(BatchScheduler::new(clients.batch.clone(), &settings)),
            fetcher: Arc::new(SqsFetcher::new(clients.sqs.clone(), &settings.fetch_queue_url)),
        };
        Deployment { settings, services, store, files }
    }
}
