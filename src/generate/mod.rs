//! New values for a rotation, one per slot: random tokens from the OS CSPRNG, dates, dated
//! names, or nothing at all for `manual` credentials (a person supplies them).

use std::collections::BTreeMap;

use time::OffsetDateTime;

use crate::policy::{Alphabet, Credential, GeneratorSpec};
use crate::sops::PlainValue;

/// The new value of each slot, by slot name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NewValues(pub BTreeMap<String, PlainValue>);

impl NewValues {
    pub fn get(&self, slot: &str) -> Option<&PlainValue> {
        self.0.get(slot)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    #[error("the operating system's random number generator failed")]
    Random,
    #[error("{0} is manual: a person supplies its values (keyroll rotate --value-stdin)")]
    Manual(String),
    #[error("value for slot {slot}: {reason}")]
    BadValue { slot: String, reason: String },
}

/// Generates one new value per slot. Manual credentials get an error saying so.
pub fn generate(cred: &Credential, now: OffsetDateTime) -> Result<NewValues, GenerateError> {
    let mut out = BTreeMap::new();
    for slot in &cred.slots {
        let value = match &cred.generator {
            GeneratorSpec::Random { length, alphabet } => {
                let mut v = slot.prefix.clone().into_bytes();
                v.extend(random_chars(*length, *alphabet)?);
                v
            }
            GeneratorSpec::Dated {
                template,
                date_format,
            } => {
                let name = template.replace("{date}", &format_date(now, date_format));
                if name.starts_with(&slot.prefix) {
                    name
                } else {
                    format!("{}{name}", slot.prefix)
                }
                .into_bytes()
            }
            GeneratorSpec::Date { format } => {
                format!("{}{}", slot.prefix, format_date(now, format)).into_bytes()
            }
            GeneratorSpec::Manual { .. } => return Err(GenerateError::Manual(cred.name.clone())),
        };
        out.insert(
            slot.name.clone(),
            PlainValue::new(crate::sops::ValueType::Str, value),
        );
    }
    Ok(NewValues(out))
}

/// The name each slot's new value must start with, for manual credentials that name their
/// keys by date.
pub fn manual_names(cred: &Credential, now: OffsetDateTime) -> BTreeMap<String, String> {
    match &cred.generator {
        GeneratorSpec::Manual {
            names, date_format, ..
        } => names
            .iter()
            .map(|(slot, t)| {
                (
                    slot.clone(),
                    t.replace("{date}", &format_date(now, date_format)),
                )
            })
            .collect(),
        _ => BTreeMap::new(),
    }
}

/// Checks values a person supplied for a manual credential: one per slot, with the slot's
/// prefix (and dated name), different from the value it replaces.
pub fn check_supplied(
    cred: &Credential,
    supplied: &NewValues,
    old: &BTreeMap<String, PlainValue>,
    now: OffsetDateTime,
) -> Result<(), GenerateError> {
    let names = manual_names(cred, now);
    for slot in &cred.slots {
        let bad = |reason: String| GenerateError::BadValue {
            slot: slot.name.clone(),
            reason,
        };
        let Some(v) = supplied.get(&slot.name) else {
            return Err(bad("no value was given".into()));
        };
        if v.is_empty() {
            return Err(bad("the value is empty".into()));
        }
        if !v.expose().starts_with(slot.prefix.as_bytes()) {
            return Err(bad(format!(
                "the value must start with the slot's prefix {:?}",
                slot.prefix
            )));
        }
        if let Some(name) = names.get(&slot.name)
            && !v.expose().starts_with(name.as_bytes())
        {
            return Err(bad(format!("the value must be the key named {name:?}")));
        }
        if old.get(&slot.name) == Some(v) {
            return Err(bad("the value is the one it should replace".into()));
        }
    }
    for slot in supplied.0.keys() {
        if cred.slot(slot).is_none() {
            return Err(GenerateError::BadValue {
                slot: slot.clone(),
                reason: "there is no such slot".into(),
            });
        }
    }
    Ok(())
}

/// `length` characters drawn uniformly from the alphabet (rejection sampling, so no
/// character is more likely than another).
fn random_chars(length: usize, alphabet: Alphabet) -> Result<Vec<u8>, GenerateError> {
    let set: &[u8] = match alphabet {
        Alphabet::Alphanumeric => b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
        Alphabet::Hex => b"0123456789abcdef",
        Alphabet::UrlSafe => b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
        Alphabet::Digits => b"0123456789",
    };
    let n = set.len();
    // The largest multiple of n that fits a byte: bytes at or above it are redrawn.
    let limit = 256 - (256 % n);
    let mut out = Vec::with_capacity(length);
    let mut buf = zeroize::Zeroizing::new([0u8; 64]);
    while out.len() < length {
        getrandom::getrandom(&mut *buf).map_err(|_| GenerateError::Random)?;
        for &b in buf.iter() {
            if usize::from(b) < limit && out.len() < length {
                out.push(set.get(usize::from(b) % n).copied().unwrap_or(b'0'));
            }
        }
    }
    Ok(out)
}

/// Formats a date with `%Y`, `%m`, `%d`, `%H`, `%M`, `%S` and `%%`; other text is kept.
pub fn format_date(t: OffsetDateTime, format: &str) -> String {
    let mut out = String::new();
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('Y') => out.push_str(&format!("{:04}", t.year())),
            Some('m') => out.push_str(&format!("{:02}", u8::from(t.month()))),
            Some('d') => out.push_str(&format!("{:02}", t.day())),
            Some('H') => out.push_str(&format!("{:02}", t.hour())),
            Some('M') => out.push_str(&format!("{:02}", t.minute())),
            Some('S') => out.push_str(&format!("{:02}", t.second())),
            Some('%') => out.push('%'),
            Some(other) => {
                out.push('%');
                out.push(other);
            }
            None => out.push('%'),
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn random_chars_use_the_whole_alphabet_evenly() {
        let v = random_chars(20_000, Alphabet::Hex).unwrap();
        assert_eq!(v.len(), 20_000);
        let mut counts = [0usize; 16];
        for c in &v {
            let i = (*c as char).to_digit(16).unwrap() as usize;
            counts[i] += 1;
        }
        // 1,250 expected per digit; a biased draw would skew some by far more than this.
        assert!(
            counts.iter().all(|&c| (1_050..1_450).contains(&c)),
            "{counts:?}"
        );
        assert_ne!(
            random_chars(40, Alphabet::Alphanumeric).unwrap(),
            random_chars(40, Alphabet::Alphanumeric).unwrap()
        );
    }

    #[test]
    fn dates_format_like_strftime() {
        let t = time::macros::datetime!(2026-11-04 07:05:09 UTC);
        assert_eq!(format_date(t, "%d-%m-%Y"), "04-11-2026");
        assert_eq!(
            format_date(t, "APP-%Y%m%dT%H%M%S-%%"),
            "APP-20261104T070509-%"
        );
    }
}
