//! Values packed into one string (`latest,previous`, `A1:J2:D3`).

use crate::sops::{PlainValue, ValueType};

/// Splits a delimited string into its values (empty parts are dropped).
pub fn split(value: &PlainValue, sep: &str) -> Vec<PlainValue> {
    let text = String::from_utf8_lossy(value.expose());
    text.split(sep)
        .filter(|p| !p.is_empty())
        .map(PlainValue::str)
        .collect()
}

/// Joins values with `sep`, into a wiped-on-drop value.
pub fn join(values: &[PlainValue], sep: &str) -> PlainValue {
    let mut out = Vec::new();
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(sep.as_bytes());
        }
        out.extend_from_slice(v.expose());
    }
    PlainValue::new(ValueType::Str, out)
}
