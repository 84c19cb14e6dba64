//! Faults injected at the HTTP layer of the real SDK client, against the real DynamoDB Local:
//! an interceptor that records every operation, and can either let a request be applied and
//! then replace its response (the ambiguous case: a write that happened but looks failed), or
//! neutralise a request before it is sent and answer "throttled".

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeDeserializationInterceptorContextMut, BeforeTransmitInterceptorContextMut,
    BeforeTransmitInterceptorContextRef,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};
use std::sync::{Arc, Mutex};

/// What to do to a matching request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Send it (the server applies it), then answer 400 ProvisionedThroughputExceeded.
    ApplyThenThrottle,
    /// Send it, then answer 500 InternalServerError.
    ApplyThenServerError,
    /// Do not apply it (it is turned into a harmless ListTables), answer throttled.
    ThrottleWithoutApplying,
    /// A BatchGetItem the server answers with every key unprocessed (as a throttled table
    /// does); it is turned into a ListTables, and the answer built from the request's keys.
    UnprocessedKeys,
    /// A claim PutItem whose `:rev` is changed before it is sent, so its condition fails as if
    /// another claimer had just won the video: a race lost, on demand.
    LoseRace,
}

#[derive(Debug)]
struct Fault {
    op: &'static str,
    mode: Mode,
    remaining: usize,
}

/// The interceptor's shared state: the operations seen and the faults still to inject.
#[derive(Debug, Default)]
pub struct Faults {
    ops: Mutex<Vec<String>>,
    pending: Mutex<Vec<Fault>>,
    injected: Mutex<Vec<(String, Mode)>>,
}

impl Faults {
    /// Injects `mode` into the next `times` attempts of operation `op` (e.g. "UpdateItem").
    pub fn inject(&self, op: &'static str, mode: Mode, times: usize) {
        self.pending.lock().unwrap().push(Fault {
            op,
            mode,
            remaining: times,
        });
    }

    /// Every operation executed so far, by name.
    pub fn ops(&self) -> Vec<String> {
        self.ops.lock().unwrap().clone()
    }

    /// Clears the operation log.
    pub fn clear_ops(&self) {
        self.ops.lock().unwrap().clear();
    }

    /// Faults actually injected.
    pub fn injected(&self) -> Vec<(String, Mode)> {
        self.injected.lock().unwrap().clone()
    }

    fn take(&self, op: &str) -> Option<Mode> {
        let mut p = self.pending.lock().unwrap();
        let f = p.iter_mut().find(|f| f.op == op && f.remaining > 0)?;
        f.remaining -= 1;
        self.injected.lock().unwrap().push((op.to_string(), f.mode));
        Some(f.mode)
    }
}

/// The interceptor to install on a client.
#[derive(Debug, Clone)]
pub struct FaultInterceptor(pub Arc<Faults>);

#[derive(Debug, Clone)]
struct ThisAttempt(Option<Mode>, Option<serde_json::Value>);
impl Storable for ThisAttempt {
    type Storer = StoreReplace<Self>;
}

fn op_name(cfg: &ConfigBag) -> String {
    cfg.load::<Metadata>()
        .map(|m| m.name().to_string())
        .unwrap_or_default()
}

impl Intercept for FaultInterceptor {
    fn name(&self) -> &'static str {
        "fleet-test-faults"
    }

    fn read_after_serialization(
        &self,
        _ctx: &BeforeTransmitInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.ops.lock().unwrap().push(op_name(cfg));
        Ok(())
    }

    fn modify_before_transmit(
        &self,
        ctx: &mut BeforeTransmitInterceptorContextMut<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let mode = self.0.take(&op_name(cfg));
        let req = ctx.request_mut();
        let body: Option<serde_json::Value> = req
            .body()
            .bytes()
            .and_then(|b| serde_json::from_slice(b).ok());
        if matches!(
            mode,
            Some(Mode::ThrottleWithoutApplying | Mode::UnprocessedKeys)
        ) {
            req.headers_mut()
                .insert("x-amz-target", "DynamoDB_20120810.ListTables");
            *req.body_mut() = SdkBody::from("{}");
            req.headers_mut().insert("content-length", "2");
        }
        if mode == Some(Mode::LoseRace) {
            let mut b = body.clone().expect("a JSON request");
            b["ExpressionAttributeValues"][":rev"] = serde_json::json!({"N": "999999999"});
            let text = b.to_string();
            req.headers_mut()
                .insert("content-length", text.len().to_string());
            *req.body_mut() = SdkBody::from(text);
        }
        cfg.interceptor_state().store_put(ThisAttempt(mode, body));
        Ok(())
    }

    fn modify_before_deserialization(
        &self,
        ctx: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(ThisAttempt(Some(mode), body)) = cfg.load::<ThisAttempt>().cloned() else {
            return Ok(());
        };
        if mode == Mode::LoseRace {
            return Ok(());
        }
        if mode == Mode::UnprocessedKeys {
            let keys = body.map(|b| b["RequestItems"].clone()).unwrap_or_default();
            let resp = ctx.response_mut();
            resp.headers_mut().remove("x-amz-crc32");
            *resp.body_mut() = SdkBody::from(
                serde_json::json!({"Responses": {}, "UnprocessedKeys": keys}).to_string(),
            );
            return Ok(());
        }
        let (status, kind) = match mode {
            Mode::ApplyThenServerError => (500, "InternalServerError"),
            _ => (400, "ProvisionedThroughputExceededException"),
        };
        let resp = ctx.response_mut();
        *resp.status_mut() = StatusCode::try_from(status).unwrap();
        resp.headers_mut().remove("x-amz-crc32");
        resp.headers_mut().insert("x-amzn-errortype", kind);
        *resp.body_mut() = SdkBody::from(format!(
            r#"{{"__type":"com.amazonaws.dynamodb.v20120810#{kind}","message":"injected by test"}}"#
        ));
        Ok(())
    }
}
