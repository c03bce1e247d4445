//! Creates a whole deployment (table, bucket, queues, Batch queue and job definition) and a token
//! for the user `alice` in the moto server named by `AWS_ENDPOINT_URL`, and prints the shell lines
//! that configure the functions for it, e.g. for `cargo lambda watch`:
//!
//! ```sh
//! eval "$(scripts/moto.sh)"
//! eval "$(cargo run -q -p cloudrun-aws --example emulator_deployment)"
//! cargo lambda watch -A 127.0.0.1 -P 9000
//! ```

use cloudrun_aws::emulator::Emulator;
use cloudrun_core::config::Config;

#[tokio::main]
async fn main() -> Result<(), String> {
    let emulator = Emulator::from_env()?;
    let prefix = format!("dev{}", hex::encode(rand::random::<[u8; 4]>()));
    let (settings, clients) = emulator.create_deployment(&prefix, Config::default()).await?;
    let store = cloudrun_aws::dynamo::DynamoStore::new(clients.dynamodb.clone(), &settings.table);
    let token = store.create_token("alice").await.map_err(|e| e.to_string())?;

    let pairs = |map: &std::collections::BTreeMap<String, String>| {
        map.iter().map(|(version, name)| format!("{version}={name}")).collect::<Vec<_>>().join(",")
    };
    println!("export CLOUDRUN_TABLE={}", settings.table);
    println!("export CLOUDRUN_BUCKET={}", settings.bucket);
    println!("export CLOUDRUN_JOB_QUEUES={}", pairs(&settings.job_queues));
    println!("export CLOUDRUN_JOB_DEFINITIONS={}", pairs(&settings.job_definitions));
    println!("export CLOUDRUN_FETCH_QUEUE_URL={}", settings.fetch_queue_url);
    println!("export CLOUDRUN_TOKEN={token}");
    Ok(())
}
