//! Invocation payloads shared by the functions: a direct JSON object, or a scheduled EventBridge event whose
//! `detail` (EventBridge Scheduler `Input`) carries the same object.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Reads options of type `T` out of `null`, a direct JSON object or a scheduled event; the message says
/// exactly what is wrong (unknown field, wrong type, not an object).
pub fn parse_invocation<T: DeserializeOwned + Default>(event: Value) -> Result<T, String> {
    match event {
        Value::Null => Ok(T::default()),
        Value::Object(ref map) if map.contains_key("detail-type") => {
            let scheduled: EventBridgeEvent<Value> = decode(event)?;
            match scheduled.detail {
                Value::Object(detail) if !detail.is_empty() => decode(Value::Object(detail)),
                _ => Ok(T::default()),
            }
        }
        Value::Object(_) => decode(event),
        other => Err(format!("expected a JSON object, got {other}")),
    }
}

fn decode<T: DeserializeOwned>(value: Value) -> Result<T, String> {
    serde_json::from_value(value).map_err(|e| e.to_string())
}
