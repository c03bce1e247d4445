//! A deployment of its own (table, bucket, queues) for each test, in the moto server that
//! `AWS_ENDPOINT_URL` names.

use bytes::Bytes;
use cloudrun_aws::clients::Clients;
use cloudrun_aws::deployment::Deployment;
use cloudrun_aws::emulator::Emulator;
use cloudrun_aws::s3::S3Options;
use cloudrun_core::config::Config;
use cloudrun_core::ports::ByteStream;

pub const MIB: u64 = 1024 * 1024;

/// Small multipart sizes, so that tests cross every threshold with a few MiB.
pub fn test_config() -> Config {
    let mut config = Config::default();
    config.uploads.multipart_threshold_bytes = 6 * MIB;
    config.uploads.part_bytes = 5 * MIB;
    config.uploads.presigned_url_seconds = 600;
    config
}

pub fn test_options(config: &Config) -> S3Options {
    let mut options = S3Options::from_config(&config.uploads);
    options.stream_part_bytes = 5 * MIB;
    options
}

/// Creates fresh resources named after a random prefix.
pub async fn deployment() -> (Deployment, Clients) {
    deployment_with(test_config(), None).await
}

pub async fn deployment_with(config: Config, options: Option<S3Options>) -> (Deployment, Clients) {
    let emulator = Emulator::from_env().unwrap_or_else(|error| panic!("{error}"));
    let prefix = format!("t{}", hex::encode(rand::random::<[u8; 6]>()));
    let options = options.unwrap_or_else(|| test_options(&config));
    let (settings, clients) = emulator.create_deployment(&prefix, config).await.unwrap_or_else(|e| panic!("{e}"));
    (Deployment::with_file_options(settings, &clients, Some(options)), clients)
}

/// `size` bytes of a repeating pattern, so that misplaced parts show.
pub fn pattern(size: u64) -> Vec<u8> {
    (0..size).map(|i| (i % 251) as u8).collect()
}

/// `data` as a stream of `chunk`-byte pieces.
pub fn chunked(data: Vec<u8>, chunk: usize) -> ByteStream {
    let pieces: Vec<std::io::Result<Bytes>> = data.chunks(chunk).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
    Box::pin(futures::stream::iter(pieces))
}

/// Reads an object whole through the SDK.
pub async fn object(clients: &Clients, bucket: &str, key: &str) -> Option<Vec<u8>> {
    let output = clients.s3.get_object().bucket(bucket).key(key).send().await.ok()?;
    Some(output.body.collect().await.expect("object body").into_bytes().to_vec())
}

/// Keys under `prefix`.
pub async fn keys(clients: &Clients, bucket: &str, prefix: &str) -> Vec<String> {
    let output = clients.s3.list_objects_v2().bucket(bucket).prefix(prefix).send().await.expect("list");
    output.contents().iter().filter_map(|o| o.key().map(str::to_string)).collect()
}
