//! Plaintext values, held so that they cannot be printed and are wiped on drop.
//!
//! Every decrypted value and every new value on its way to encryption lives in a
//! [`PlainValue`]. Its `Debug` output names the type only, it has no `Display`, and its
//! bytes are zeroized when it is dropped. Code that needs the bytes asks for them with
//! [`PlainValue::expose`], which makes each such place easy to find in review.

use std::fmt;

use zeroize::Zeroizing;

/// The SOPS `type:` of a value, which decides how its bytes are read back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ValueType {
    Str,
    Int,
    Float,
    Bool,
    Time,
    Comment,
    Bytes,
}

impl ValueType {
    /// The name written after `type:` in an `ENC[...]` string.
    pub fn as_str(self) -> &'static str {
        match self {
            ValueType::Str => "str",
            ValueType::Int => "int",
            ValueType::Float => "float",
            ValueType::Bool => "bool",
            ValueType::Time => "time",
            ValueType::Comment => "comment",
            ValueType::Bytes => "bytes",
        }
    }

    /// Parses a `type:` name; `None` for anything sops does not know either.
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "str" => ValueType::Str,
            "int" => ValueType::Int,
            "float" => ValueType::Float,
            "bool" => ValueType::Bool,
            "time" => ValueType::Time,
            "comment" => ValueType::Comment,
            "bytes" => ValueType::Bytes,
            _ => return None,
        })
    }
}

/// One plaintext value: its SOPS type and its bytes exactly as SOPS encrypts and MACs them
/// (`True`/`False` for booleans, shortest decimal for numbers, RFC 3339 for times).
#[derive(Clone, PartialEq, Eq)]
pub struct PlainValue {
    ty: ValueType,
    bytes: Zeroizing<Vec<u8>>,
}

impl PlainValue {
    pub fn new(ty: ValueType, bytes: Vec<u8>) -> Self {
        Self {
            ty,
            bytes: Zeroizing::new(bytes),
        }
    }

    pub fn str(text: &str) -> Self {
        Self::new(ValueType::Str, text.as_bytes().to_vec())
    }

    pub fn ty(&self) -> ValueType {
        self.ty
    }

    /// The plaintext bytes. Callers must not log, print or store them.
    pub fn expose(&self) -> &[u8] {
        &self.bytes
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The value as UTF-8 text, if it is text. Callers must not log, print or store it.
    pub fn expose_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.bytes).ok()
    }
}

impl fmt::Debug for PlainValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PlainValue({}, <redacted>)", self.ty.as_str())
    }
}

/// A string holding plaintext (a rendered decrypted document, say). Wiped on drop, never
/// printed by `Debug`.
#[derive(Default, Clone, PartialEq, Eq)]
pub struct SecretText(Zeroizing<String>);

impl SecretText {
    pub fn new(text: String) -> Self {
        Self(Zeroizing::new(text))
    }

    /// The plaintext. Callers must not log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub(crate) fn push_str(&mut self, s: &str) {
        self.0.push_str(s);
    }

    pub(crate) fn push(&mut self, c: char) {
        self.0.push(c);
    }
}

impl fmt::Debug for SecretText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretText(<redacted, {} bytes>)", self.0.len())
    }
}

/// The 32-byte data key of a file, with its AES-256-GCM cipher built once (key schedule and
/// GHASH key), since every value of the file is encrypted under it. Wiped on drop (the cipher
/// through the `zeroize` feature of `aes-gcm`), never printed.
#[derive(Clone)]
pub struct DataKey {
    bytes: Zeroizing<[u8; 32]>,
    cipher: Box<aes_gcm::AesGcm<aes_gcm::aes::Aes256, aes_gcm::aead::consts::U32>>,
}

impl DataKey {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        use aes_gcm::KeyInit;
        let bytes = Zeroizing::new(bytes);
        let cipher = Box::new(aes_gcm::AesGcm::new((&*bytes).into()));
        Self { bytes, cipher }
    }

    pub fn generate() -> Result<Self, getrandom::Error> {
        let mut key = Zeroizing::new([0u8; 32]);
        getrandom::getrandom(&mut *key)?;
        Ok(Self::from_bytes(*key))
    }

    pub(crate) fn expose(&self) -> &[u8; 32] {
        &self.bytes
    }

    /// The cipher for sops's 32-byte IVs.
    pub(crate) fn cipher(
        &self,
    ) -> &aes_gcm::AesGcm<aes_gcm::aes::Aes256, aes_gcm::aead::consts::U32> {
        &self.cipher
    }
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DataKey(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_plaintext() {
        let v = PlainValue::str("hunter2-very-secret");
        let t = SecretText::new("hunter2-very-secret".into());
        let k = DataKey::from_bytes([0x41; 32]);
        let all = format!("{v:?} {t:?} {k:?} {v:#?}");
        assert!(!all.contains("hunter2"), "{all}");
        assert!(!all.contains("AAAA") && !all.contains("65, 65"), "{all}");
    }
}
