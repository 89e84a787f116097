//! The file MAC: SHA-512 over every value's plaintext bytes in document order, stored
//! encrypted with the `lastmodified` stamp as additional data.

use sha2::{Digest, Sha256, Sha512};

use super::secret::PlainValue;

/// One value as the MAC sees it.
#[derive(Debug, Clone, Copy)]
pub struct MacInput<'a> {
    /// `None` for nulls, which the MAC skips.
    pub value: Option<&'a PlainValue>,
    pub encrypted: bool,
    /// Comments (including sops's comment list items) are never MACed.
    pub comment: bool,
}

/// Computes the MAC string: upper-case hex of the SHA-512.
pub fn compute<'a>(
    inputs: impl IntoIterator<Item = MacInput<'a>>,
    mac_only_encrypted: bool,
) -> String {
    let mut hash = Sha512::new();
    if mac_only_encrypted {
        // Domain separation so such a MAC never equals one over all values.
        hash.update(Sha256::digest(b"sops"));
    }
    for input in inputs {
        let Some(v) = input.value else { continue };
        if input.comment || (mac_only_encrypted && !input.encrypted) {
            continue;
        }
        hash.update(v.expose());
    }
    let digest = hash.finalize();
    let mut out = String::with_capacity(128);
    for b in digest.iter() {
        out.push_str(&format!("{b:02X}"));
    }
    out
}

/// The RFC 3339 text sops uses as the MAC's additional data: it parses `lastmodified` and
/// formats it again, dropping fractional seconds. `None` when the value does not parse, a
/// file sops refuses.
pub fn stamp_aad(lastmodified: &str) -> Option<String> {
    let t = super::value::parse_rfc3339(lastmodified)?;
    Some(format_stamp(t))
}

/// Formats a timestamp as sops writes `lastmodified`: whole seconds, `Z` for UTC.
pub fn format_stamp(t: time::OffsetDateTime) -> String {
    let date = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    let offset = t.offset();
    if offset.is_utc() {
        format!("{date}Z")
    } else {
        let (h, m, _) = offset.as_hms();
        let sign = if offset.is_negative() { '-' } else { '+' };
        format!(
            "{date}{sign}{:02}:{:02}",
            h.unsigned_abs(),
            m.unsigned_abs()
        )
    }
}
