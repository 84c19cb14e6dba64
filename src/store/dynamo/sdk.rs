//! The one place where SDK errors become `StoreError`s and where a failed condition is told
//! apart from every other failure.

use crate::error::{BoxError, StoreError};
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::{
    delete_item::DeleteItemError, put_item::PutItemError, update_item::UpdateItemError,
};
use aws_sdk_dynamodb::types::AttributeValue;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use std::collections::HashMap;

/// A raw item.
pub(crate) type Item = HashMap<String, AttributeValue>;

/// The outcome of a conditional write.
pub(crate) enum Write<O> {
    /// The condition held and the write was applied.
    Applied(O),
    /// The condition failed; the item as it was (from `ALL_OLD`), if it exists.
    Rejected(Option<Item>),
}

/// Operation errors that can carry a failed condition.
pub(crate) trait ConditionFailure {
    /// `Some(old item)` if this error is a failed condition.
    fn rejected_item(&self) -> Option<Option<Item>>;
}

macro_rules! condition_failure {
    ($($ty:ty),*) => {$(
        impl ConditionFailure for $ty {
            fn rejected_item(&self) -> Option<Option<Item>> {
                match self {
                    Self::ConditionalCheckFailedException(e) => Some(e.item().cloned()),
                    _ => None,
                }
            }
        }
    )*};
}
condition_failure!(PutItemError, UpdateItemError, DeleteItemError);

/// Splits a conditional write's result into applied, rejected, or a typed error.
pub(crate) fn conditional<O, E>(
    res: Result<O, SdkError<E, HttpResponse>>,
    op: &'static str,
    table: &str,
) -> Result<Write<O>, StoreError>
where
    E: ConditionFailure + ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match res {
        Ok(o) => Ok(Write::Applied(o)),
        Err(e) => {
            if let SdkError::ServiceError(se) = &e {
                if let Some(old) = se.err().rejected_item() {
                    return Ok(Write::Rejected(old));
                }
            }
            Err(classify(e, op, table))
        }
    }
}

/// Types any SDK failure: throttled, transient (possibly applied), missing table, or fatal.
pub(crate) fn classify<E>(
    err: SdkError<E, HttpResponse>,
    op: &'static str,
    table: &str,
) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let table = table.to_string();
    let code = err.code().map(str::to_owned);
    let server_error = match &err {
        SdkError::ServiceError(se) => se.raw().status().is_server_error(),
        SdkError::ResponseError(r) => r.raw().status().is_server_error(),
        _ => false,
    };
    let network = matches!(
        &err,
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_)
    );
    let source: BoxError = Box::new(err);
    match code.as_deref() {
        Some(
            "ProvisionedThroughputExceededException"
            | "ThrottlingException"
            | "RequestLimitExceeded"
            | "Throttling",
        ) => StoreError::Throttled { op, table, source },
        Some("ResourceNotFoundException") => StoreError::TableMissing { table },
        Some("InternalServerError" | "ServiceUnavailable") => {
            StoreError::Transient { op, table, source }
        }
        _ if network || server_error => StoreError::Transient { op, table, source },
        _ => StoreError::Fatal { op, table, source },
    }
}

/// `AttributeValue::S`.
pub(crate) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

/// `AttributeValue::N`.
pub(crate) fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// The number attribute `name` of `item`, if it is there and a number.
pub(crate) fn num(item: Option<&Item>, name: &str) -> Option<i64> {
    item.and_then(|i| i.get(name))
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse().ok())
}
