//! The deployment a function loads once per cold start: settings, SDK clients, and the assembled services.

use cloudrun_aws::clients::Clients;
use cloudrun_aws::deployment::Deployment;
use cloudrun_aws::settings::Settings;
use tracing::error;

/// Reads the environment and builds the deployment; a configuration error is logged and ends the cold start.
pub async fn deployment() -> Result<Deployment, lambda_runtime::Error> {
    let settings = Settings::from_env().inspect_err(|e| error!(error = %e, "invalid configuration"))?;
    let clients = Clients::load(&settings).await;
    Ok(Deployment::new(settings, &clients))
}
