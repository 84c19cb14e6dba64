//! The table's shape, read from `schema/table.json`: the one definition that both
//! `fleet-admin init` and the Terraform in `infra/` follow (a test on each side checks it).

use serde::Deserialize;
use std::sync::OnceLock;

/// The JSON, compiled in.
pub const SCHEMA_JSON: &str = include_str!("../../schema/table.json");

/// The table's shape.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct TableSchema {
    /// Partition key attribute.
    pub hash_key: String,
    /// Key attributes of the table and its indexes, with their DynamoDB types.
    pub attributes: Vec<Attribute>,
    /// Global secondary indexes.
    pub global_secondary_indexes: Vec<Index>,
    /// How many partition key values the `ready` index is spread over.
    pub ready_shards: u32,
    /// The attribute DynamoDB's TTL deletes items by (the worker registry's).
    pub ttl_attribute: String,
}

/// A key attribute.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Attribute {
    /// Name.
    pub name: String,
    /// `S` or `N`.
    #[serde(rename = "type")]
    pub kind: String,
}

/// A global secondary index.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Index {
    /// Name.
    pub name: String,
    /// Partition key attribute.
    pub hash_key: String,
    /// Sort key attribute.
    pub range_key: String,
    /// `KEYS_ONLY`, so that heartbeats (which touch no key) cost no index write.
    pub projection_type: String,
}

/// The schema, parsed once.
pub fn schema() -> &'static TableSchema {
    static S: OnceLock<TableSchema> = OnceLock::new();
    S.get_or_init(|| serde_json::from_str(SCHEMA_JSON).expect("schema/table.json is valid"))
}

/// Name of the index claimers query.
pub const READY_INDEX: &str = "ready";

/// Key of the item that holds fleet-wide settings (the pause flag). It cannot collide with a
/// video, whose key always starts with `s3://`.
pub const CONTROL_PK: &str = "#control";

/// Key of the item where the scaler remembers since when the backlog has been empty. Items
/// whose key starts with `#` are not videos; readers of the whole table skip them.
pub const SCALER_PK: &str = "#scaler";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::video::tests::pending;

    #[test]
    fn schema_matches_the_item_the_code_writes() {
        let s = schema();
        let ready = s
            .global_secondary_indexes
            .iter()
            .find(|i| i.name == READY_INDEX)
            .expect("ready index");
        let item: std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue> =
            serde_dynamo::to_item(pending("s3://b/k")).unwrap();
        for attr in &s.attributes {
            let v = item
                .get(&attr.name)
                .unwrap_or_else(|| panic!("{} not written", attr.name));
            match attr.kind.as_str() {
                "S" => assert!(v.is_s(), "{} is not S", attr.name),
                "N" => assert!(v.is_n(), "{} is not N", attr.name),
                k => panic!("unknown type {k}"),
            }
        }
        use crate::store::dynamo::attrs::{PK, READY_AT, SHARD};
        assert_eq!(s.hash_key, PK);
        assert_eq!(
            (ready.hash_key.as_str(), ready.range_key.as_str()),
            (SHARD, READY_AT)
        );
        assert_eq!(ready.projection_type, "KEYS_ONLY");
        assert!(s.ready_shards >= 1);
    }
}
