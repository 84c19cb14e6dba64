//! Creating the table from `schema/table.json`, the same definition Terraform follows.

use super::sdk;
use crate::error::StoreError;
use crate::store::schema::{schema, TableSchema};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TableStatus as SdkStatus,
};
use aws_sdk_dynamodb::Client;
use std::time::Duration;

/// What `create_table` found or did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableStatus {
    /// The table was created.
    Created,
    /// It was already there.
    Existed,
}

fn invalid(e: impl std::error::Error + Send + Sync + 'static, table: &str) -> StoreError {
    StoreError::Fatal {
        op: "CreateTable",
        table: table.to_string(),
        source: Box::new(e),
    }
}

fn key(name: &str, kind: KeyType, table: &str) -> Result<KeySchemaElement, StoreError> {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(kind)
        .build()
        .map_err(|e| invalid(e, table))
}

/// Creates the table (on-demand billing) with its indexes if it is missing, and waits until
/// it is active.
pub async fn create_table(client: &Client, table: &str) -> Result<TableStatus, StoreError> {
    let s: &TableSchema = schema();
    let mut req = client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key(&s.hash_key, KeyType::Hash, table)?);
    for a in &s.attributes {
        let kind = match a.kind.as_str() {
            "N" => ScalarAttributeType::N,
            _ => ScalarAttributeType::S,
        };
        req = req.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(&a.name)
                .attribute_type(kind)
                .build()
                .map_err(|e| invalid(e, table))?,
        );
    }
    for i in &s.global_secondary_indexes {
        req = req.global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(&i.name)
                .key_schema(key(&i.hash_key, KeyType::Hash, table)?)
                .key_schema(key(&i.range_key, KeyType::Range, table)?)
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::from(i.projection_type.as_str()))
                        .build(),
                )
                .build()
                .map_err(|e| invalid(e, table))?,
        );
    }
    let status = match req.send().await {
        Ok(_) => TableStatus::Created,
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_in_use_exception()) =>
        {
            TableStatus::Existed
        }
        Err(e) => return Err(sdk::classify(e, "CreateTable", table)),
    };
    for _ in 0..600 {
        let d = client
            .describe_table()
            .table_name(table)
            .send()
            .await
            .map_err(|e| sdk::classify(e, "DescribeTable", table))?;
        if d.table().and_then(|t| t.table_status()) == Some(&SdkStatus::Active) {
            enable_ttl(client, table, &s.ttl_attribute).await?;
            return Ok(status);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Err(StoreError::Transient {
        op: "DescribeTable",
        table: table.to_string(),
        source: "table did not become ACTIVE within 5 minutes".into(),
    })
}

/// Turns on DynamoDB's TTL (registry items expire by it); a table that has it already is fine.
async fn enable_ttl(client: &Client, table: &str, attribute: &str) -> Result<(), StoreError> {
    let on = client
        .describe_time_to_live()
        .table_name(table)
        .send()
        .await
        .map_err(|e| sdk::classify(e, "DescribeTimeToLive", table))?
        .time_to_live_description()
        .and_then(|d| d.time_to_live_status())
        .is_some_and(|s| {
            matches!(
                s,
                aws_sdk_dynamodb::types::TimeToLiveStatus::Enabled
                    | aws_sdk_dynamodb::types::TimeToLiveStatus::Enabling
            )
        });
    if on {
        return Ok(());
    }
    let spec = aws_sdk_dynamodb::types::TimeToLiveSpecification::builder()
        .attribute_name(attribute)
        .enabled(true)
        .build()
        .map_err(|e| invalid(e, table))?;
    client
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(spec)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| sdk::classify(e, "UpdateTimeToLive", table))
}

/// Fails unless `table` exists, is active and carries the `ready` index the claim queries: what
/// a worker checks at start, so that a typo in `--table` (or a table made by hand) stops it
/// with one line instead of an endless WARN loop. AccessDenied and the like come back as
/// `Fatal`, with the SDK's cause.
pub async fn check_usable(client: &Client, table: &str) -> Result<(), StoreError> {
    let out = client
        .describe_table()
        .table_name(table)
        .send()
        .await
        .map_err(|e| sdk::classify(e, "DescribeTable", table))?;
    let desc = out.table();
    let indexes: Vec<&str> = desc
        .map(|t| t.global_secondary_indexes())
        .unwrap_or_default()
        .iter()
        .filter_map(|i| i.index_name())
        .collect();
    let missing: Vec<&str> = schema()
        .global_secondary_indexes
        .iter()
        .map(|i| i.name.as_str())
        .filter(|n| !indexes.contains(n))
        .collect();
    if !missing.is_empty() {
        return Err(StoreError::NotFleets {
            table: table.to_string(),
            why: format!(
                "it has no {} index (create tables with `fleet-admin init`, or the Terraform \
                 in infra/)",
                missing.join(", ")
            ),
        });
    }
    match desc.and_then(|t| t.table_status()) {
        Some(SdkStatus::Active | SdkStatus::Updating) | None => Ok(()),
        Some(other) => Err(StoreError::NotFleets {
            table: table.to_string(),
            why: format!("it is {}", other.as_str()),
        }),
    }
}
