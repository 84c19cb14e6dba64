//! A benchmark-only interceptor: asks DynamoDB for `ReturnConsumedCapacity=INDEXES` on every
//! item operation and adds up what it answers, per operation and for the `ready` index, so the
//! benchmark reports capacity units per video as DynamoDB counts them (DynamoDB Local computes
//! them from item sizes the same way).

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeTransmitInterceptorContextMut, FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::config_bag::ConfigBag;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

const ITEM_OPS: &[&str] = &[
    "GetItem",
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "Query",
    "Scan",
    "BatchGetItem",
    "BatchWriteItem",
];

/// Capacity units by operation: (read or write units on the table, units on indexes).
#[derive(Debug, Clone, Default)]
pub struct CapacityMeter(Arc<Mutex<BTreeMap<String, (f64, f64)>>>);

impl CapacityMeter {
    /// Units so far by operation: (table, indexes).
    pub fn units(&self) -> BTreeMap<String, (f64, f64)> {
        self.0.lock().map(|m| m.clone()).unwrap_or_default()
    }
}

fn op(cfg: &ConfigBag) -> String {
    cfg.load::<Metadata>()
        .map(|m| m.name().to_string())
        .unwrap_or_default()
}

fn add(acc: &mut (f64, f64), c: &serde_json::Value) {
    let table = c["Table"]["CapacityUnits"].as_f64();
    let indexes: f64 = ["GlobalSecondaryIndexes", "LocalSecondaryIndexes"]
        .iter()
        .filter_map(|k| c[*k].as_object())
        .flat_map(|m| m.values())
        .filter_map(|v| v["CapacityUnits"].as_f64())
        .sum();
    // Without a breakdown, the total is the table's.
    acc.0 += table.unwrap_or_else(|| c["CapacityUnits"].as_f64().unwrap_or(0.0) - indexes);
    acc.1 += indexes;
}

impl Intercept for CapacityMeter {
    fn name(&self) -> &'static str {
        "bench-capacity-meter"
    }

    fn modify_before_signing(
        &self,
        ctx: &mut BeforeTransmitInterceptorContextMut<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if !ITEM_OPS.contains(&op(cfg).as_str()) {
            return Ok(());
        }
        let req = ctx.request_mut();
        let Some(bytes) = req.body().bytes() else {
            return Ok(());
        };
        let mut v: serde_json::Value = serde_json::from_slice(bytes)?;
        v["ReturnConsumedCapacity"] = "INDEXES".into();
        let body = serde_json::to_vec(&v)?;
        req.headers_mut()
            .insert("content-length", body.len().to_string());
        *req.body_mut() = SdkBody::from(body);
        Ok(())
    }

    fn read_after_execution(
        &self,
        ctx: &FinalizerInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(bytes) = ctx.response().and_then(|r| r.body().bytes()) else {
            return Ok(());
        };
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(bytes) else {
            return Ok(());
        };
        let mut m = self.0.lock().map_err(|_| "poisoned")?;
        let acc = m.entry(op(cfg)).or_default();
        match &v["ConsumedCapacity"] {
            serde_json::Value::Array(list) => list.iter().for_each(|c| add(acc, c)),
            c @ serde_json::Value::Object(_) => add(acc, c),
            _ => {}
        }
        Ok(())
    }
}
