//! DynamoDB adapter of the run store and the token store: one table for both.
//!
//! Items, keyed by the string attribute `pk`:
//! - a run: `pk = "run#<id>"`, `owner`, `created_ns` (creation time in nanoseconds since the Unix
//!   epoch), `revision`, `status`, and `document` (the run as JSON);
//! - a token: `pk = "token#<SHA-256 of the token, hex>"` and `user`. Token items have no `owner`,
//!   so the `owner-created` index contains runs only.
//!
//! Every write of a run is conditional on the revision it was read at, so of two concurrent
//! writers exactly one succeeds and the other gets `StoreError::Conflict`.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use cloudrun_core::api::hash_token;
use cloudrun_core::ports::{RunStore, StoreError, TokenStore};
use cloudrun_core::run::{Id, Run};

mod schema;

pub use schema::{create_table, OWNER_INDEX};

type Item = HashMap<String, AttributeValue>;

/// Runs and tokens in one DynamoDB table.
#[derive(Clone, Debug)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

fn run_key(id: &Id) -> AttributeValue {
    AttributeValue::S(format!("run#{id}"))
}

fn token_key(hash: &str) -> AttributeValue {
    AttributeValue::S(format!("token#{hash}"))
}

fn backend(error: impl std::error::Error) -> StoreError {
    StoreError::Backend(aws_sdk_dynamodb::error::DisplayErrorContext(error).to_string())
}

fn decode(item: &Item) -> Result<Run, StoreError> {
    let document = item
        .get("document")
        .and_then(|v| v.as_s().ok())
        .ok_or_else(|| StoreError::Backend("run item without a `document` attribute".into()))?;
    serde_json::from_str(document).map_err(|e| StoreError::Backend(format!("corrupt run document: {e}")))
}

fn unix_nanos() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0)
}

impl DynamoStore {
    pub fn new(client: Client, table: &str) -> DynamoStore {
        DynamoStore { client, table: table.to_string() }
    }

    /// Stores a new random token for `user` (only its hash) and returns the token.
    pub async fn create_token(&self, user: &str) -> Result<String, StoreError> {
        let token = hex::encode(rand::random::<[u8; 32]>());
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", token_key(&hash_token(&token)))
            .item("user", AttributeValue::S(user.to_string()))
            .send()
            .await
            .map_err(backend)?;
        Ok(token)
    }

    /// Removes a token; a token that does not exist is not an error.
    pub async fn revoke_token(&self, token: &str) -> Result<(), StoreError> {
        let request = self.client.delete_item().table_name(&self.table).key("pk", token_key(&hash_token(token)));
        request.send().await.map_err(backend)?;
        Ok(())
    }

    fn conflict_or_backend<E>(error: aws_sdk_dynamodb::error::SdkError<E>, is_conflict: fn(&E) -> bool) -> StoreError
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        if error.as_service_error().is_some_and(is_conflict) {
            StoreError::Conflict
        } else {
            backend(error)
        }
    }

    async fn get_item(&self, id: &Id) -> Result<Option<Item>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", run_key(id))
            .consistent_read(true)
            .send()
            .await
            .map_err(backend)?;
        Ok(output.item)
    }
}

#[async_trait]
impl RunStore for DynamoStore {
    async fn insert(&self, run: &Run) -> Result<(), StoreError> {
        let document = serde_json::to_string(run).map_err(StoreError::backend)?;
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", run_key(&run.id))
            .item("owner", AttributeValue::S(run.owner.clone()))
            .item("created_ns", AttributeValue::N(unix_nanos().to_string()))
            .item("revision", AttributeValue::N(run.revision.to_string()))
            .item("status", AttributeValue::S(run.status.to_string()))
            .item("document", AttributeValue::S(document))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .map_err(|e| Self::conflict_or_backend(e, |e| e.is_conditional_check_failed_exception()))?;
        Ok(())
    }

    async fn get(&self, id: &Id) -> Result<Option<Run>, StoreError> {
        self.get_item(id).await?.as_ref().map(decode).transpose()
    }

    async fn list_by_owner(&self, owner: &str) -> Result<Vec<Run>, StoreError> {
        // NOTE: global secondary indexes are eventually consistent, so a run created a moment ago may be missing.
        let items: Vec<Item> = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(OWNER_INDEX)
            .key_condition_expression("#owner = :owner")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_values(":owner", AttributeValue::S(owner.to_string()))
            .scan_index_forward(false)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(backend)?;
        items.iter().map(decode).collect()
    }

    async fn list_running(&self) -> Result<Vec<Run>, StoreError> {
        let items: Vec<Item> = self
            .client
            .scan()
            .table_name(&self.table)
            .filter_expression("#status IN (:starting, :active)")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":starting", AttributeValue::S("starting".into()))
            .expression_attribute_values(":active", AttributeValue::S("active".into()))
            .consistent_read(true)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(backend)?;
        items.iter().map(decode).collect()
    }

    async fn update(&self, run: &Run) -> Result<Run, StoreError> {
        let mut stored = run.clone();
        stored.revision += 1;
        let document = serde_json::to_string(&stored).map_err(StoreError::backend)?;
        // `owner` and `created_ns` never change, so only the changing attributes are written.
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", run_key(&run.id))
            .update_expression("SET #document = :document, #status = :status, revision = :next")
            .condition_expression("revision = :expected")
            .expression_attribute_names("#document", "document")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":document", AttributeValue::S(document))
            .expression_attribute_values(":status", AttributeValue::S(stored.status.to_string()))
            .expression_attribute_values(":next", AttributeValue::N(stored.revision.to_string()))
            .expression_attribute_values(":expected", AttributeValue::N(run.revision.to_string()))
            .send()
            .await
            .map_err(|e| Self::conflict_or_backend(e, |e| e.is_conditional_check_failed_exception()))?;
        Ok(stored)
    }
}

#[async_trait]
impl TokenStore for DynamoStore {
    async fn user_for_token_hash(&self, hash: &str) -> Result<Option<String>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", token_key(hash))
            .consistent_read(true)
            .send()
            .await
            .map_err(backend)?;
        Ok(output.item.and_then(|item| item.get("user").and_then(|v| v.as_s().ok()).cloned()))
    }
}
