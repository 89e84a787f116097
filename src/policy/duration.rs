//! Durations in config files: a number and a unit (`90d`, `12h`, `30m`, `2w`, `45s`).

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::limits::{MAX_DURATION, MAX_DURATION_DIGITS};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Span(pub time::Duration);

impl Span {
    /// Parses `90d` and the like. Never panics: the number is bounded (at most
    /// [`MAX_DURATION`]) before any arithmetic.
    pub fn parse(text: &str) -> Result<Self, String> {
        let t = text.trim();
        let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        if num.is_empty() {
            return Err(format!(
                "{} is not a duration: write a number and a unit, like 90d, 12h, 30m",
                shown(text)
            ));
        }
        let unit_seconds: u64 = match unit {
            "s" => 1,
            "m" => 60,
            "h" => 3_600,
            "d" => 86_400,
            "w" => 604_800,
            _ => {
                return Err(format!(
                    "{} has an unknown unit: use s, m, h, d or w (like 90d)",
                    shown(text)
                ));
            }
        };
        let too_long = || {
            format!(
                "{} is longer than the longest duration keyroll accepts, {} (10 years)",
                shown(text),
                Span(MAX_DURATION)
            )
        };
        if num.len() > MAX_DURATION_DIGITS {
            return Err(too_long());
        }
        let n: u64 = num.parse().map_err(|_| too_long())?;
        if n == 0 {
            return Err(format!(
                "{} is zero; a duration must be positive",
                shown(text)
            ));
        }
        let seconds = n
            .checked_mul(unit_seconds)
            .and_then(|s| i64::try_from(s).ok())
            .ok_or_else(too_long)?;
        let d = time::Duration::seconds(seconds);
        if d > MAX_DURATION {
            return Err(too_long());
        }
        Ok(Self(d))
    }
}

/// The text as given, quoted, cut short if long (it may be a megabyte of digits).
fn shown(text: &str) -> String {
    const MAX_SHOWN: usize = 40;
    if text.chars().count() <= MAX_SHOWN {
        format!("{text:?}")
    } else {
        let head: String = text.chars().take(MAX_SHOWN).collect();
        format!("{head:?}…")
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
            "maxLength": MAX_DURATION_DIGITS + 1,
            "description": "A number and a unit: s, m, h, d or w (90d, 12h, 30m); at most 3650d (10 years)."
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
        for bad in ["", "d", "90", "9x", "0d", "-1d", "1.5d", "+1d"] {
            assert!(Span::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations_stop_at_ten_years_without_overflowing() {
        assert_eq!(Span::parse("3650d").unwrap().0, MAX_DURATION);
        assert_eq!(Span::parse("521w").unwrap().0, time::Duration::weeks(521));
        for over in [
            "3651d",
            "2914000d",
            "522w",
            "99999999999999d",
            "9223372036854775807s",
            "18446744073709551616w",
            "106751991167300d",
        ] {
            let e = Span::parse(over).unwrap_err();
            assert!(e.contains("3650d (10 years)"), "{over}: {e}");
        }
    }
}
