//! The table layout, for emulators and tests; `infra/template.yaml` declares the same table.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType,
};
use aws_sdk_dynamodb::Client;

/// Index of runs by `owner` (partition key) and `created_ns` (sort key).
pub const OWNER_INDEX: &str = "owner-created";

fn attribute(name: &str, kind: ScalarAttributeType) -> Result<AttributeDefinition, String> {
    AttributeDefinition::builder().attribute_name(name).attribute_type(kind).build().map_err(|e| e.to_string())
}

fn key(name: &str, kind: KeyType) -> Result<KeySchemaElement, String> {
    KeySchemaElement::builder().attribute_name(name).key_type(kind).build().map_err(|e| e.to_string())
}

/// Creates the table with on-demand billing.
pub async fn create_table(client: &Client, table: &str) -> Result<(), String> {
    let index = GlobalSecondaryIndex::builder()
        .index_name(OWNER_INDEX)
        .key_schema(key("owner", KeyType::Hash)?)
        .key_schema(key("created_ns", KeyType::Range)?)
        .projection(Projection::builder().projection_type(ProjectionType::All).build())
        .build()
        .map_err(|e| e.to_string())?;
    client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attribute("pk", ScalarAttributeType::S)?)
        .attribute_definitions(attribute("owner", ScalarAttributeType::S)?)
        .attribute_definitions(attribute("created_ns", ScalarAttributeType::N)?)
        .key_schema(key("pk", KeyType::Hash)?)
        .global_secondary_indexes(index)
        .send()
        .await
        .map_err(|e| aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string())?;
    Ok(())
}
