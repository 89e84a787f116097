//! How SOPS types a scalar and turns it into bytes, and how keyroll writes a plaintext
//! scalar back into YAML, JSON or dotenv text.
//!
//! The typing follows the Go YAML v3 decoder that SOPS parses with: a plain (unquoted)
//! scalar can be a null, bool, int, float or timestamp; a quoted or block scalar is always a
//! string. The byte forms follow SOPS's `ToBytes`: `True`/`False`, decimal integers, floats
//! as the shortest round-trip decimal without exponent, times in RFC 3339.

use super::secret::{PlainValue, ValueType};

/// The outcome of typing a scalar from the document text.
#[derive(Debug)]
pub enum Typed {
    /// `null`, `~` or empty: SOPS neither encrypts nor MACs it.
    Null,
    Value(PlainValue),
    /// A value SOPS refuses (an integer above `i64::MAX`).
    Unsupported(&'static str),
}

/// Types a plain YAML scalar as Go YAML v3 does when decoding into an interface.
pub fn type_yaml_plain(text: &str) -> Typed {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Typed::Null,
        "true" | "True" | "TRUE" => return bool_value(true),
        "false" | "False" | "FALSE" => return bool_value(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return float_value(f64::INFINITY);
        }
        "-.inf" | "-.Inf" | "-.INF" => return float_value(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return float_value(f64::NAN),
        _ => {}
    }
    let first = text.as_bytes().first().copied().unwrap_or(b'a');
    if !(first.is_ascii_digit() || first == b'+' || first == b'-' || first == b'.') {
        return Typed::Value(PlainValue::str(text));
    }
    if let Some(time) = parse_timestamp(text) {
        return Typed::Value(PlainValue::new(ValueType::Time, time.into_bytes()));
    }
    let plain: String = text.chars().filter(|&c| c != '_').collect();
    match parse_go_int(&plain) {
        Some(GoInt::Signed(v)) => return int_value(v),
        Some(GoInt::TooLarge) => {
            return Typed::Unsupported(
                "an integer above 9223372036854775807 (sops refuses uint64)",
            );
        }
        None => {}
    }
    // A literal beyond f64's range is a string to YAML v3 (its ParseFloat fails).
    if is_yaml_float(&plain)
        && let Ok(f) = plain.parse::<f64>()
        && f.is_finite()
    {
        return float_value(f);
    }
    Typed::Value(PlainValue::str(text))
}

/// Whether a plain (unquoted, untagged) YAML key decodes to a string, the only key type
/// sops accepts.
pub fn plain_key_is_string(key: &str) -> bool {
    matches!(type_yaml_plain(key), Typed::Value(v) if v.ty() == ValueType::Str)
}

/// Types a JSON number literal. Integers that fit an `i64` become `int` (as sops >= 3.13.2
/// writes them); everything else becomes `float`.
pub fn type_json_number(literal: &str, ints_as_floats: bool) -> Typed {
    if !ints_as_floats && let Ok(i) = literal.parse::<i64>() {
        return int_value(i);
    }
    match literal.parse::<f64>() {
        Ok(f) if f.is_finite() => float_value(f),
        // Go's JSON decoder refuses a number beyond float64's range; so does sops.
        Ok(_) => Typed::Unsupported("a number beyond the range of a 64-bit float"),
        Err(_) => Typed::Value(PlainValue::str(literal)),
    }
}

fn bool_value(b: bool) -> Typed {
    Typed::Value(bool_plain(b))
}

pub fn bool_plain(b: bool) -> PlainValue {
    let text: &[u8] = if b { b"True" } else { b"False" };
    PlainValue::new(ValueType::Bool, text.to_vec())
}

fn int_value(v: i64) -> Typed {
    Typed::Value(PlainValue::new(ValueType::Int, v.to_string().into_bytes()))
}

fn float_value(f: f64) -> Typed {
    Typed::Value(PlainValue::new(ValueType::Float, go_float(f).into_bytes()))
}

/// Formats like Go's `strconv.FormatFloat(f, 'f', -1, 64)`: shortest round-trip digits and
/// never an exponent. Rust's `Display` for `f64` has the same contract for finite values.
pub fn go_float(f: f64) -> String {
    if f.is_nan() {
        "NaN".to_owned()
    } else if f == f64::INFINITY {
        "+Inf".to_owned()
    } else if f == f64::NEG_INFINITY {
        "-Inf".to_owned()
    } else {
        format!("{f}")
    }
}

enum GoInt {
    Signed(i64),
    TooLarge,
}

/// Go's `strconv.ParseInt(s, 0, 64)`, with the `ParseUint` fallback YAML v3 tries next.
fn parse_go_int(s: &str) -> Option<GoInt> {
    let (negative, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, s.get(1..)?),
        Some(b'+') => (false, s.get(1..)?),
        _ => (false, s),
    };
    let lower = digits.to_ascii_lowercase();
    let (radix, body) = if let Some(rest) = lower.strip_prefix("0x") {
        (16, rest.to_owned())
    } else if let Some(rest) = lower.strip_prefix("0o") {
        (8, rest.to_owned())
    } else if let Some(rest) = lower.strip_prefix("0b") {
        (2, rest.to_owned())
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, lower.get(1..)?.to_owned())
    } else {
        (10, lower)
    };
    if body.is_empty() || !body.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let magnitude = u128::from_str_radix(&body, radix).ok()?;
    let value = if negative {
        -i128::try_from(magnitude).ok()?
    } else {
        i128::try_from(magnitude).ok()?
    };
    match i64::try_from(value) {
        Ok(v) => Some(GoInt::Signed(v)),
        Err(_) if !negative && u64::try_from(value).is_ok() => Some(GoInt::TooLarge),
        Err(_) => None,
    }
}

/// YAML v3's float pattern: `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`.
fn is_yaml_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if matches!(b.first(), Some(b'-' | b'+')) {
        i += 1;
    }
    let digits = |i: &mut usize| {
        let start = *i;
        while b.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i - start
    };
    if b.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    } else {
        if digits(&mut i) == 0 {
            return false;
        }
        if b.get(i) == Some(&b'.') {
            i += 1;
            digits(&mut i);
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'-' | b'+')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// Parses the timestamp forms YAML v3 accepts for unquoted scalars and renders the instant
/// as SOPS does (RFC 3339, fractional seconds only when present, `Z` for UTC).
pub fn parse_timestamp(s: &str) -> Option<String> {
    let b = s.as_bytes();
    if b.len() < 8 || !b.iter().take(4).all(u8::is_ascii_digit) || b.get(4) != Some(&b'-') {
        return None;
    }
    let mut p = Cursor { b, i: 5 };
    let year: i32 = s.get(0..4)?.parse().ok()?;
    let month = p.number(1, 2)?;
    p.expect(b'-')?;
    let day = p.number(1, 2)?;
    let date = time::Date::from_calendar_date(
        year,
        time::Month::try_from(u8::try_from(month).ok()?).ok()?,
        u8::try_from(day).ok()?,
    )
    .ok()?;
    if p.done() {
        return Some(format!(
            "{:04}-{:02}-{:02}T00:00:00Z",
            date.year(),
            month,
            day
        ));
    }
    let with_zone = match p.next()? {
        b'T' | b't' => true,
        b' ' => false,
        _ => return None,
    };
    let hour = p.number(1, 2)?;
    p.expect(b':')?;
    let minute = p.number(1, 2)?;
    p.expect(b':')?;
    let second = p.number(1, 2)?;
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let mut frac = String::new();
    if p.peek() == Some(b'.') {
        p.i += 1;
        while let Some(c) = p.peek().filter(u8::is_ascii_digit) {
            frac.push(char::from(c));
            p.i += 1;
        }
        if frac.is_empty() || frac.len() > 9 {
            return None;
        }
        while frac.ends_with('0') {
            frac.pop();
        }
    }
    let zone = if with_zone {
        match p.next()? {
            b'Z' => "Z".to_owned(),
            sign @ (b'+' | b'-') => {
                let hh = p.number(2, 2)?;
                p.expect(b':')?;
                let mm = p.number(2, 2)?;
                if hh == 0 && mm == 0 {
                    "Z".to_owned()
                } else {
                    format!("{}{hh:02}:{mm:02}", char::from(sign))
                }
            }
            _ => return None,
        }
    } else {
        "Z".to_owned()
    };
    if !p.done() {
        return None;
    }
    let frac = if frac.is_empty() {
        frac
    } else {
        format!(".{frac}")
    };
    Some(format!(
        "{:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}{frac}{zone}",
        date.year()
    ))
}

struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }
    fn next(&mut self) -> Option<u8> {
        let c = self.peek()?;
        self.i += 1;
        Some(c)
    }
    fn done(&self) -> bool {
        self.i == self.b.len()
    }
    fn expect(&mut self, c: u8) -> Option<()> {
        (self.next()? == c).then_some(())
    }
    fn number(&mut self, min: usize, max: usize) -> Option<u32> {
        let start = self.i;
        while self.i - start < max && self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.i += 1;
        }
        if self.i - start < min {
            return None;
        }
        std::str::from_utf8(self.b.get(start..self.i)?)
            .ok()?
            .parse()
            .ok()
    }
}

/// What sops makes of a decrypted value: Go parses the bytes by the `type:` written next to
/// the ciphertext (which nothing authenticates), and the MAC and the output use the parsed
/// value's rendering. So a value is kept in that rendering here, and bytes Go's parser
/// refuses are refused (sops fails to decrypt the file). Where Go accepts forms keyroll does
/// not parse (hex floats, digit separators, over nine fraction digits), keyroll refuses:
/// stricter, never more lenient.
pub fn decode_typed(v: PlainValue) -> Result<PlainValue, &'static str> {
    let text = || std::str::from_utf8(v.expose()).ok();
    let canonical = match v.ty() {
        ValueType::Str | ValueType::Comment => return Ok(v),
        // sops keeps every decrypted value in a Go map key to reuse its IV on re-encryption,
        // and a byte slice cannot be one: `sops -d` crashes on any `type:bytes` value.
        ValueType::Bytes => return Err("type `bytes`, which the real sops cannot decrypt"),
        ValueType::Int => text()
            .and_then(parse_go_atoi)
            .map(|i| i.to_string())
            .ok_or("the value does not read as its type `int`")?,
        ValueType::Float => text()
            .and_then(parse_go_float)
            .map(go_float)
            .ok_or("the value does not read as its type `float`")?,
        ValueType::Bool => match parse_go_bool(v.expose()) {
            Some(true) => "True".to_owned(),
            Some(false) => "False".to_owned(),
            None => return Err("the value does not read as its type `bool`"),
        },
        ValueType::Time => text()
            .and_then(parse_rfc3339)
            .map(format_rfc3339_nano)
            .ok_or("the value does not read as its type `time`")?,
    };
    Ok(PlainValue::new(v.ty(), canonical.into_bytes()))
}

/// Go's `strconv.Atoi`: an optional sign and decimal digits, within 64 bits.
fn parse_go_atoi(s: &str) -> Option<i64> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<i64>().ok()
}

/// The decimal and special forms of Go's `strconv.ParseFloat` (64 bits). A finite literal
/// that overflows is an error there (`ErrRange`), so it is one here.
fn parse_go_float(s: &str) -> Option<f64> {
    let unsigned = s.strip_prefix(['+', '-']).unwrap_or(s);
    let lower = unsigned.to_ascii_lowercase();
    if lower == "inf" || lower == "infinity" {
        return Some(if s.starts_with('-') {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        });
    }
    if lower == "nan" {
        // Go reads `NaN` in any case, but not with a sign.
        return (unsigned.len() == s.len()).then_some(f64::NAN);
    }
    if !is_plain_decimal(s) {
        return None;
    }
    s.parse::<f64>().ok().filter(|f| f.is_finite())
}

/// `[sign] digits [. digits] [e [sign] digits]` with digits on at least one side of the dot.
fn is_plain_decimal(s: &str) -> bool {
    let b = s.strip_prefix(['+', '-']).unwrap_or(s).as_bytes();
    let mut i = 0;
    let mut mantissa = 0;
    while b.get(i).is_some_and(u8::is_ascii_digit) {
        i += 1;
        mantissa += 1;
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
            mantissa += 1;
        }
    }
    if mantissa == 0 {
        return false;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    i == b.len()
}

/// Parses RFC 3339 as Go's `time.Parse(time.RFC3339, …)` does in its strict form:
/// `2006-01-02T15:04:05[.fraction](Z|±hh:mm)`, with a real calendar date, seconds up to 59
/// and zone hours up to 23. Lower-case `t`/`z`, a comma before the fraction and more than
/// nine fraction digits, which Go also takes, are refused (stricter).
pub fn parse_rfc3339(s: &str) -> Option<time::OffsetDateTime> {
    let b = s.as_bytes();
    let num = |from: usize, len: usize| -> Option<u32> {
        let part = b.get(from..from + len)?;
        if !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(part).ok()?.parse().ok()
    };
    let sep = |at: usize, c: u8| (b.get(at) == Some(&c)).then_some(());
    let year = i32::try_from(num(0, 4)?).ok()?;
    sep(4, b'-')?;
    let month = u8::try_from(num(5, 2)?).ok()?;
    sep(7, b'-')?;
    let day = u8::try_from(num(8, 2)?).ok()?;
    sep(10, b'T')?;
    let hour = u8::try_from(num(11, 2)?).ok()?;
    sep(13, b':')?;
    let minute = u8::try_from(num(14, 2)?).ok()?;
    sep(16, b':')?;
    let second = u8::try_from(num(17, 2)?).ok()?;
    let mut i = 19;
    let mut nanos: u32 = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        let digits = i - start;
        if digits == 0 || digits > 9 {
            return None;
        }
        let scale = 10u32.checked_pow(u32::try_from(9 - digits).ok()?)?;
        nanos = num(start, digits)?.checked_mul(scale)?;
    }
    let offset = match b.get(i)? {
        b'Z' => {
            i += 1;
            time::UtcOffset::UTC
        }
        sign @ (b'+' | b'-') => {
            let hh = u8::try_from(num(i + 1, 2)?).ok()?;
            sep(i + 3, b':')?;
            let mm = u8::try_from(num(i + 4, 2)?).ok()?;
            i += 6;
            if hh > 23 || mm > 59 {
                return None;
            }
            let (h, m) = (i8::try_from(hh).ok()?, i8::try_from(mm).ok()?);
            let (h, m) = if *sign == b'-' { (-h, -m) } else { (h, m) };
            time::UtcOffset::from_hms(h, m, 0).ok()?
        }
        _ => return None,
    };
    if i != b.len() || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let date =
        time::Date::from_calendar_date(year, time::Month::try_from(month).ok()?, day).ok()?;
    let clock = time::Time::from_hms_nano(hour, minute, second, nanos).ok()?;
    Some(time::PrimitiveDateTime::new(date, clock).assume_offset(offset))
}

/// Formats as Go's `time.RFC3339Nano` (what sops's `MarshalText` writes): fraction digits
/// only as needed, `Z` for a zero offset.
pub fn format_rfc3339_nano(t: time::OffsetDateTime) -> String {
    let mut out = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    let nanos = t.nanosecond();
    if nanos > 0 {
        let frac = format!("{nanos:09}");
        out.push('.');
        out.push_str(frac.trim_end_matches('0'));
    }
    let offset = t.offset();
    if offset.is_utc() {
        out.push('Z');
    } else {
        let (h, m, _) = offset.as_hms();
        let sign = if offset.is_negative() { '-' } else { '+' };
        out.push_str(&format!(
            "{sign}{:02}:{:02}",
            h.unsigned_abs(),
            m.unsigned_abs()
        ));
    }
    out
}

/// Parses a boolean plaintext the way Go's `strconv.ParseBool` does.
pub fn parse_go_bool(bytes: &[u8]) -> Option<bool> {
    match bytes {
        b"1" | b"t" | b"T" | b"TRUE" | b"true" | b"True" => Some(true),
        b"0" | b"f" | b"F" | b"FALSE" | b"false" | b"False" => Some(false),
        _ => None,
    }
}

/// Writes a plaintext value as a YAML scalar that reads back as the same typed value.
pub fn render_yaml(value: &PlainValue, out: &mut String, in_flow: bool) {
    let text = String::from_utf8_lossy(value.expose());
    match value.ty() {
        ValueType::Int | ValueType::Float => match text.as_ref() {
            "+Inf" => out.push_str(".inf"),
            "-Inf" => out.push_str("-.inf"),
            "NaN" => out.push_str(".nan"),
            // A float written with digits only gets a `.0`, so that it reads back as a float
            // (and not as an int, or a number too large for one).
            t if value.ty() == ValueType::Float
                && !t.is_empty()
                && t.trim_start_matches('-')
                    .bytes()
                    .all(|b| b.is_ascii_digit()) =>
            {
                out.push_str(t);
                out.push_str(".0");
            }
            t => out.push_str(t),
        },
        ValueType::Bool => match parse_go_bool(value.expose()) {
            Some(true) => out.push_str("true"),
            Some(false) => out.push_str("false"),
            None => yaml_string(&text, out, in_flow),
        },
        ValueType::Time if parse_timestamp(&text).is_some() => out.push_str(&text),
        _ => yaml_string(&text, out, in_flow),
    }
}

/// Writes a string as YAML: plain when that reads back as the same string, double-quoted
/// otherwise.
pub fn yaml_string(text: &str, out: &mut String, in_flow: bool) {
    if yaml_plain_is_safe(text, in_flow) {
        out.push_str(text);
    } else {
        yaml_double_quoted(text, out);
    }
}

fn yaml_plain_is_safe(text: &str, in_flow: bool) -> bool {
    let Some(first) = text.chars().next() else {
        return false;
    };
    if !(first.is_ascii_alphanumeric() || matches!(first, '_' | '/' | '.')) {
        return false;
    }
    if text.ends_with(' ') || text.contains(": ") || text.contains(" #") || text.ends_with(':') {
        return false;
    }
    let ok_chars = text.chars().all(|c| {
        c.is_ascii_alphanumeric()
            || matches!(
                c,
                '_' | '-'
                    | '.'
                    | '/'
                    | '+'
                    | '='
                    | '@'
                    | '~'
                    | '^'
                    | '%'
                    | '$'
                    | '('
                    | ')'
                    | ' '
                    | ':'
            )
            || (!in_flow && matches!(c, ',' | '[' | ']' | '{' | '}'))
    });
    ok_chars && matches!(type_yaml_plain(text), Typed::Value(ref v) if v.ty() == ValueType::Str)
}

/// A YAML double-quoted scalar. Every escape used here is valid YAML 1.1 and 1.2.
pub fn yaml_double_quoted(text: &str, out: &mut String) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            // C0/C1 controls and DEL as `\xHH`; the byte-order mark and the Unicode line and
            // paragraph separators (which YAML would not keep literally) as `\uHHHH`.
            c if (c as u32) < 0x20 || c == '\u{7f}' || ('\u{80}'..='\u{9f}').contains(&c) => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            '\u{feff}' | '\u{2028}' | '\u{2029}' => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Writes a plaintext value as a JSON value of the same type.
pub fn render_json(value: &PlainValue, out: &mut String) {
    let text = String::from_utf8_lossy(value.expose());
    match value.ty() {
        ValueType::Int | ValueType::Float if is_json_number(&text) => out.push_str(&text),
        ValueType::Bool => match parse_go_bool(value.expose()) {
            Some(true) => out.push_str("true"),
            Some(false) => out.push_str("false"),
            None => json_string(&text, out),
        },
        _ => json_string(&text, out),
    }
}

pub fn json_string(text: &str, out: &mut String) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Whether `s` is a JSON number literal (RFC 8259 grammar), whatever its magnitude.
fn is_json_number(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = usize::from(b.first() == Some(&b'-'));
    let digits = |i: &mut usize| {
        let start = *i;
        while b.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i - start
    };
    match b.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => {
            digits(&mut i);
        }
        _ => return false,
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// Writes a plaintext value as a dotenv value: newlines become the two characters `\n`.
pub fn render_dotenv(value: &PlainValue, out: &mut String) {
    out.push_str(&String::from_utf8_lossy(value.expose()).replace('\n', "\\n"));
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    fn typed(text: &str) -> (ValueType, String) {
        match type_yaml_plain(text) {
            Typed::Value(v) => (v.ty(), String::from_utf8(v.expose().to_vec()).unwrap()),
            other => panic!("{text}: {other:?}"),
        }
    }

    fn decoded(ty: ValueType, bytes: &str) -> Result<String, &'static str> {
        decode_typed(PlainValue::new(ty, bytes.as_bytes().to_vec()))
            .map(|v| String::from_utf8(v.expose().to_vec()).unwrap())
    }

    #[test]
    fn decrypted_values_are_read_by_their_type_as_go_reads_them() {
        use ValueType::*;
        assert_eq!(decoded(Int, "007"), Ok("7".into()));
        assert_eq!(decoded(Int, "+5"), Ok("5".into()));
        assert!(decoded(Int, "1_000").is_err());
        assert!(decoded(Int, "0x1F").is_err());
        assert!(decoded(Int, "9223372036854775808").is_err());
        assert!(decoded(Int, "hunter2").is_err());
        assert_eq!(decoded(Float, "1.50"), Ok("1.5".into()));
        assert_eq!(decoded(Float, "5432"), Ok("5432".into()));
        assert_eq!(decoded(Float, "1e3"), Ok("1000".into()));
        assert_eq!(decoded(Float, "-Inf"), Ok("-Inf".into()));
        assert_eq!(decoded(Float, "nan"), Ok("NaN".into()));
        assert!(decoded(Float, "-nan").is_err());
        assert!(decoded(Float, "1e400").is_err());
        assert!(decoded(Float, "").is_err());
        assert_eq!(decoded(Bool, "t"), Ok("True".into()));
        assert_eq!(decoded(Bool, "0"), Ok("False".into()));
        assert!(decoded(Bool, "yes").is_err());
        assert_eq!(
            decoded(Time, "2024-01-15T10:20:30.500+00:00"),
            Ok("2024-01-15T10:20:30.5Z".into())
        );
        assert!(decoded(Time, "2024-01-15t10:20:30Z").is_err());
        assert!(decoded(Time, "2024-02-30T10:20:30Z").is_err());
        assert!(decoded(Time, "2024-01-15T10:20:60Z").is_err());
        assert!(decoded(Time, "2024-01-15").is_err());
        assert!(decoded(Bytes, "x").is_err());
        assert_eq!(decoded(Str, "anything"), Ok("anything".into()));
    }

    #[test]
    fn yaml_plain_scalars_are_typed_like_go_yaml_v3() {
        assert_eq!(typed("5432"), (ValueType::Int, "5432".into()));
        assert_eq!(typed("0x1F"), (ValueType::Int, "31".into()));
        assert_eq!(typed("1_000"), (ValueType::Int, "1000".into()));
        assert_eq!(typed("0.75"), (ValueType::Float, "0.75".into()));
        assert_eq!(typed("1.5e+10"), (ValueType::Float, "15000000000".into()));
        assert_eq!(typed("-0.001"), (ValueType::Float, "-0.001".into()));
        assert_eq!(typed("true"), (ValueType::Bool, "True".into()));
        assert_eq!(typed("yes"), (ValueType::Str, "yes".into()));
        assert_eq!(
            typed("2024-01-15"),
            (ValueType::Time, "2024-01-15T00:00:00Z".into())
        );
        assert_eq!(
            typed("2024-01-15T10:20:30.500+01:00"),
            (ValueType::Time, "2024-01-15T10:20:30.5+01:00".into())
        );
        assert_eq!(typed("2024-13-15"), (ValueType::Str, "2024-13-15".into()));
        assert_eq!(typed("hello"), (ValueType::Str, "hello".into()));
        assert!(matches!(type_yaml_plain("~"), Typed::Null));
        assert_eq!(typed("1e310"), (ValueType::Str, "1e310".into()));
        assert!(matches!(
            type_yaml_plain("18446744073709551615"),
            Typed::Unsupported(_)
        ));
    }

    #[test]
    fn numbers_render_with_their_type() {
        let float = |t: &str| PlainValue::new(ValueType::Float, t.as_bytes().to_vec());
        let mut out = String::new();
        render_yaml(&float("100000000000000000000"), &mut out, false);
        assert_eq!(out, "100000000000000000000.0");
        let max = format!("{}", f64::MAX);
        let mut out = String::new();
        render_json(&float(&max), &mut out);
        assert_eq!(out, max);
        for bad in ["", "-", "01", "1.", ".5", "+1", "1e", "NaN"] {
            assert!(!is_json_number(bad), "{bad}");
        }
    }

    #[test]
    fn strings_that_look_like_other_types_are_quoted() {
        for s in [
            "true",
            "42",
            "2024-01-15",
            "",
            " lead",
            "a: b",
            "x #y",
            "null",
            "-",
            "é",
        ] {
            let mut out = String::new();
            yaml_string(s, &mut out, false);
            assert!(out.starts_with('"'), "{s:?} rendered as {out}");
        }
        let mut out = String::new();
        yaml_string("plain-token_123", &mut out, false);
        assert_eq!(out, "plain-token_123");
        let mut out = String::new();
        yaml_double_quoted("\u{feff}\u{1}\u{2028}", &mut out);
        assert_eq!(out, "\"\\ufeff\\x01\\u2028\"");
    }
}
