//! Durations in config files: a number and a unit (`90d`, `12h`, `30m`, `2w`, `45s`).

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Span(pub time::Duration);

impl Span {
    pub fn parse(text: &str) -> Result<Self, String> {
        let t = text.trim();
        let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        let n: i64 = num.parse().map_err(|_| {
            format!("{text:?} is not a duration: write a number and a unit, like 90d, 12h, 30m")
        })?;
        let d = match unit {
            "s" => time::Duration::seconds(n),
            "m" => time::Duration::minutes(n),
            "h" => time::Duration::hours(n),
            "d" => time::Duration::days(n),
            "w" => time::Duration::weeks(n),
            _ => {
                return Err(format!(
                    "{text:?} has an unknown unit: use s, m, h, d or w (like 90d)"
                ));
            }
        };
        if n == 0 {
            return Err(format!("{text:?} is zero; a duration must be positive"));
        }
        Ok(Self(d))
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0.whole_seconds();
        let (n, unit) = [
            (604_800, "w"),
            (86_400, "d"),
            (3_600, "h"),
            (60, "m"),
            (1, "s"),
        ]
        .into_iter()
        .find(|(u, _)| s % u == 0)
        .map_or((s, "s"), |(u, name)| (s / u, name));
        write!(f, "{n}{unit}")
    }
}

impl<'de> Deserialize<'de> for Span {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Span::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl Serialize for Span {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl JsonSchema for Span {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^[0-9]+[smhdw]$",
            "description": "A number and a unit: s, m, h, d or w (90d, 12h, 30m)."
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        assert_eq!(Span::parse("90d").unwrap().0, time::Duration::days(90));
        assert_eq!(Span::parse("2w").unwrap().to_string(), "2w");
        assert_eq!(Span::parse("36h").unwrap().to_string(), "36h");
        for bad in ["", "d", "90", "9x", "0d", "-1d", "1.5d"] {
            assert!(Span::parse(bad).is_err(), "{bad}");
        }
    }
}
