//! The logic behind `fleet-admin`'s subcommands; the binary only parses and prints.

pub mod audit;
pub mod dashboard;
pub mod estimate;
pub mod report;
pub mod retry;
pub mod seed;
pub mod show;

use crate::error::StoreError;
use aws_sdk_dynamodb::Client;

/// Fails with `TableMissing` unless `table` exists: checked before anything is written.
pub async fn require_table(client: &Client, table: &str) -> Result<(), StoreError> {
    match client.describe_table().table_name(table).send().await {
        Ok(_) => Ok(()),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception()) =>
        {
            Err(StoreError::TableMissing {
                table: table.to_string(),
            })
        }
        Err(e) => Err(StoreError::Fatal {
            op: "DescribeTable",
            table: table.to_string(),
            source: Box::new(e),
        }),
    }
}
