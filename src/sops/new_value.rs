//! A value to write with `set`, parsed from JSON straight into wrapped plaintext.
//!
//! Deserializing into [`NewValue`] (rather than `serde_json::Value`) means every string
//! lands in a zeroizing [`PlainValue`] at once.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

use super::error::SopsError;
use super::secret::{PlainValue, ValueType};
use super::value::{bool_plain, go_float};

#[derive(Debug, Clone, PartialEq)]
pub enum NewValue {
    Null,
    Scalar(PlainValue),
    Map(Vec<(String, NewValue)>),
    List(Vec<NewValue>),
}

impl NewValue {
    /// Parses the JSON form `sops set` takes (`"text"`, `42`, `true`, `{"k": 1}`).
    pub fn from_json(text: &str) -> Result<Self, SopsError> {
        serde_json::from_str(text).map_err(|e| {
            // serde_json's messages quote no input; keep only line and column.
            SopsError::InvalidValue(format!(
                "not valid JSON at line {}, column {} (strings need quotes: '\"text\"')",
                e.line(),
                e.column()
            ))
        })
    }
}

impl<'de> Deserialize<'de> for NewValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NewValueVisitor)
    }
}

struct NewValueVisitor;

impl<'de> Visitor<'de> for NewValueVisitor {
    type Value = NewValue;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E>(self) -> Result<NewValue, E> {
        Ok(NewValue::Null)
    }
    fn visit_bool<E>(self, v: bool) -> Result<NewValue, E> {
        Ok(NewValue::Scalar(bool_plain(v)))
    }
    fn visit_i64<E>(self, v: i64) -> Result<NewValue, E> {
        Ok(NewValue::Scalar(PlainValue::new(
            ValueType::Int,
            v.to_string().into_bytes(),
        )))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<NewValue, E> {
        i64::try_from(v)
            .map(|v| NewValue::Scalar(PlainValue::new(ValueType::Int, v.to_string().into_bytes())))
            .map_err(|_| E::custom("integer too large for sops"))
    }
    fn visit_f64<E>(self, v: f64) -> Result<NewValue, E> {
        Ok(NewValue::Scalar(PlainValue::new(
            ValueType::Float,
            go_float(v).into_bytes(),
        )))
    }
    fn visit_str<E>(self, v: &str) -> Result<NewValue, E> {
        Ok(NewValue::Scalar(PlainValue::str(v)))
    }
    fn visit_string<E>(self, v: String) -> Result<NewValue, E> {
        let mut v = zeroize::Zeroizing::new(v);
        Ok(NewValue::Scalar(PlainValue::new(
            ValueType::Str,
            std::mem::take(&mut *v).into_bytes(),
        )))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<NewValue, A::Error> {
        let mut items = Vec::new();
        while let Some(v) = seq.next_element()? {
            items.push(v);
        }
        Ok(NewValue::List(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<NewValue, A::Error> {
        let mut entries: Vec<(String, NewValue)> = Vec::new();
        while let Some((k, v)) = map.next_entry::<String, NewValue>()? {
            entries.retain(|(old, _)| *old != k);
            entries.push((k, v));
        }
        Ok(NewValue::Map(entries))
    }
}
