//! Lambda function, API Gateway TOKEN authorizer: resolves bearer tokens to users.

use cloudrun_lambda::authorizer::{authorize, TokenAuthorizerEvent};
use cloudrun_lambda::{startup, telemetry};
use lambda_runtime::{run, service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let deployment = startup::deployment().await?;
    let tokens = &deployment.store;
    run(service_fn(|event: LambdaEvent<TokenAuthorizerEvent>| authorize(tokens, event.payload))).await
}
