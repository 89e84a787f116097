//! The `ENC[AES256_GCM,data:…,iv:…,tag:…,type:…]` value string and the AES-256-GCM it
//! stands for.
//!
//! SOPS uses a 32-byte IV (GCM derives its counter block by GHASHing a non-96-bit IV), keeps
//! the 16-byte tag apart from the ciphertext, and binds every value to its place in the
//! document by using the key path (`a:b:`) as additional authenticated data.

use aes_gcm::AesGcm;
use aes_gcm::aead::consts::{U12, U32};
use aes_gcm::aead::generic_array::{ArrayLength, GenericArray};
use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::aes::Aes256;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::secret::{DataKey, PlainValue, ValueType};

const PREFIX: &str = "ENC[AES256_GCM,data:";

/// What can be wrong with one `ENC[...]` string, before or during decryption.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CipherError {
    #[error("not an ENC[AES256_GCM,...] value")]
    NotEncrypted,
    #[error("malformed ENC[...] value: {0}")]
    Malformed(&'static str),
    #[error("unknown value type {0:?}")]
    UnknownType(String),
    #[error("unsupported IV length of {0} bytes")]
    IvLength(usize),
    #[error("authentication failed: the ciphertext was changed, or moved here from another key")]
    Authentication,
    #[error("the operating system's random number generator failed")]
    Random,
}

/// A parsed `ENC[...]` string: ciphertext, IV, tag and type, nothing decrypted yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncValue {
    data: Vec<u8>,
    iv: Vec<u8>,
    tag: [u8; 16],
    ty: ValueType,
}

/// Returns whether `text` looks like an `ENC[...]` value, the test SOPS itself applies.
pub fn is_encrypted(text: &str) -> bool {
    text.starts_with(PREFIX)
}

impl EncValue {
    /// Parses an `ENC[...]` string the way SOPS's start-anchored pattern does.
    pub fn parse(text: &str) -> Result<Self, CipherError> {
        let rest = text.strip_prefix(PREFIX).ok_or(CipherError::NotEncrypted)?;
        let rest = rest
            .strip_suffix(']')
            .ok_or(CipherError::Malformed("missing closing bracket"))?;
        let (rest, ty) = rest
            .rsplit_once(",type:")
            .ok_or(CipherError::Malformed("missing type"))?;
        let (rest, tag) = rest
            .rsplit_once(",tag:")
            .ok_or(CipherError::Malformed("missing tag"))?;
        let (data, iv) = rest
            .rsplit_once(",iv:")
            .ok_or(CipherError::Malformed("missing iv"))?;
        let ty = ValueType::parse(ty).ok_or_else(|| CipherError::UnknownType(ty.to_owned()))?;
        let data = BASE64
            .decode(data)
            .map_err(|_| CipherError::Malformed("data is not base64"))?;
        if data.is_empty() {
            return Err(CipherError::Malformed("empty data"));
        }
        let iv = BASE64
            .decode(iv)
            .map_err(|_| CipherError::Malformed("iv is not base64"))?;
        let tag: [u8; 16] = BASE64
            .decode(tag)
            .map_err(|_| CipherError::Malformed("tag is not base64"))?
            .try_into()
            .map_err(|_| CipherError::Malformed("tag is not 16 bytes"))?;
        Ok(Self { data, iv, tag, ty })
    }

    pub fn ty(&self) -> ValueType {
        self.ty
    }

    /// Decrypts with the data key and the value's path as additional data.
    pub fn decrypt(&self, key: &DataKey, aad: &[u8]) -> Result<PlainValue, CipherError> {
        let mut buf = self.data.clone();
        let ok = match self.iv.len() {
            32 => {
                let cipher = key.cipher();
                let nonce = nonce::<U32>(&self.iv)?;
                cipher.decrypt_in_place_detached(
                    &nonce,
                    aad,
                    buf.as_mut_slice(),
                    &GenericArray::from(self.tag),
                )
            }
            12 => {
                let cipher = AesGcm::<Aes256, U12>::new(key.expose().into());
                let nonce = nonce::<U12>(&self.iv)?;
                cipher.decrypt_in_place_detached(
                    &nonce,
                    aad,
                    buf.as_mut_slice(),
                    &GenericArray::from(self.tag),
                )
            }
            n => return Err(CipherError::IvLength(n)),
        };
        match ok {
            Ok(()) => Ok(PlainValue::new(self.ty, buf)),
            Err(_) => {
                zeroize::Zeroize::zeroize(&mut buf);
                Err(CipherError::Authentication)
            }
        }
    }

    /// Encrypts a value with a fresh random 32-byte IV, as SOPS does.
    pub fn encrypt(value: &PlainValue, key: &DataKey, aad: &[u8]) -> Result<Self, CipherError> {
        let mut iv = [0u8; 32];
        getrandom::getrandom(&mut iv).map_err(|_| CipherError::Random)?;
        let mut buf = value.expose().to_vec();
        let tag = key
            .cipher()
            .encrypt_in_place_detached(&GenericArray::from(iv), aad, buf.as_mut_slice())
            .map_err(|_| CipherError::Authentication)?;
        Ok(Self {
            data: buf,
            iv: iv.to_vec(),
            tag: tag.into(),
            ty: value.ty(),
        })
    }

    /// Renders the `ENC[...]` string.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(PREFIX.len() + self.data.len() * 4 / 3 + 100);
        out.push_str(PREFIX);
        BASE64.encode_string(&self.data, &mut out);
        out.push_str(",iv:");
        BASE64.encode_string(&self.iv, &mut out);
        out.push_str(",tag:");
        BASE64.encode_string(self.tag, &mut out);
        out.push_str(",type:");
        out.push_str(self.ty.as_str());
        out.push(']');
        out
    }
}

/// The IV as the nonce type of a cipher taking `N`-byte nonces; an IV of another length is
/// refused, never truncated or padded.
fn nonce<N: ArrayLength<u8>>(iv: &[u8]) -> Result<GenericArray<u8, N>, CipherError> {
    GenericArray::from_exact_iter(iv.iter().copied()).ok_or(CipherError::IvLength(iv.len()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_binds_the_path() {
        let key = DataKey::from_bytes([7; 32]);
        let v = PlainValue::str("s3cret");
        let enc = EncValue::encrypt(&v, &key, b"a:b:").unwrap();
        let text = enc.render();
        assert!(text.starts_with("ENC[AES256_GCM,data:") && text.ends_with(",type:str]"));
        let parsed = EncValue::parse(&text).unwrap();
        assert_eq!(parsed.decrypt(&key, b"a:b:").unwrap(), v);
        assert_eq!(
            parsed.decrypt(&key, b"a:c:"),
            Err(CipherError::Authentication)
        );
        assert_eq!(
            parsed.decrypt(&DataKey::from_bytes([8; 32]), b"a:b:"),
            Err(CipherError::Authentication)
        );
    }

    #[test]
    fn malformed_values_are_named() {
        assert_eq!(EncValue::parse("hello"), Err(CipherError::NotEncrypted));
        assert!(matches!(
            EncValue::parse("ENC[AES256_GCM,data:AA==,iv:AA==,tag:AA==,type:str]"),
            Err(CipherError::Malformed(_))
        ));
        assert!(matches!(
            EncValue::parse(
                "ENC[AES256_GCM,data:AA==,iv:AA==,tag:AAAAAAAAAAAAAAAAAAAAAA==,type:blob]"
            ),
            Err(CipherError::UnknownType(_))
        ));
    }
}
