//! Crypto-shredding: every customer's personal fields are encrypted with a
//! data key of their own, and erasing the customer deletes the key.
//!
//! - A [`DataKey`] (AES-256-GCM, 32 random bytes) seals a customer's personal
//!   fields into a [`Sealed`] value: the key id, a random 96-bit nonce and the
//!   ciphertext, bound by the associated data to the customer id and version,
//!   so a sealed value cannot be moved to another customer or version.
//! - The [`KeyEncryptionKey`] (from configuration) wraps data keys into
//!   [`WrappedKey`]s: what accounts stores and publishes on the keys topic.
//!   The wrapping is bound to the customer id and key id.
//!
//! AES-GCM comes from `ring`; nothing here implements a cipher.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};

/// The one algorithm of sealed values and wrapped keys (JOSE's name for it).
pub const ALGORITHM: &str = "A256GCM";

/// Bytes of an AES-256 key.
const KEY_LEN: usize = 32;

/// Why a value could not be sealed or opened.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    #[error("unsupported algorithm {0:?}")]
    Algorithm(String),
    #[error("{0} is not valid base64")]
    Encoding(&'static str),
    #[error("the key-encryption key must be 32 bytes, base64-encoded")]
    KeyLength,
    #[error("sealed with key {found:?}, not {expected:?}")]
    WrongKey { expected: String, found: String },
    #[error("wrapped with key-encryption key {found:?}, not {expected:?}")]
    WrongKek { expected: String, found: String },
    /// Tampered with, or sealed for another customer or version.
    #[error("authentication failed")]
    Authentication,
    #[error("the system random generator failed")]
    Random,
}

/// A value sealed with a customer's data key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Sealed {
    /// The data key's id ([`WrappedKey::key_id`]).
    pub key_id: String,
    /// Always `A256GCM`.
    pub alg: String,
    /// 96 bits, base64.
    pub nonce: String,
    /// The ciphertext with its 128-bit tag, base64.
    pub ciphertext: String,
}

/// A data key wrapped with the key-encryption key: the value of a record on
/// the keys topic, and what accounts stores with the customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WrappedKey {
    /// The customer the key belongs to, also the record key.
    pub customer_id: String,
    /// The id [`Sealed::key_id`] names.
    pub key_id: String,
    /// The key-encryption key that wrapped it.
    pub kek_id: String,
    /// Always `A256GCM`.
    pub alg: String,
    /// 96 bits, base64.
    pub nonce: String,
    /// The data key, encrypted, with its tag; base64.
    pub ciphertext: String,
}

/// A customer's data key. Its bytes never print.
#[derive(Clone)]
pub struct DataKey {
    id: String,
    bytes: [u8; KEY_LEN],
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

fn random<const N: usize>() -> Result<[u8; N], CryptoError> {
    let mut bytes = [0u8; N];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| CryptoError::Random)?;
    Ok(bytes)
}

fn decode(what: &'static str, value: &str) -> Result<Vec<u8>, CryptoError> {
    STANDARD
        .decode(value)
        .map_err(|_| CryptoError::Encoding(what))
}

fn aes(bytes: &[u8]) -> Result<LessSafeKey, CryptoError> {
    let key = UnboundKey::new(&AES_256_GCM, bytes).map_err(|_| CryptoError::KeyLength)?;
    Ok(LessSafeKey::new(key))
}

/// Encrypts `plaintext` under `key` with a fresh random nonce; the nonce and
/// the ciphertext with its tag, base64.
fn encrypt(
    key: &LessSafeKey,
    aad: &[u8],
    plaintext: &[u8],
) -> Result<(String, String), CryptoError> {
    let nonce = random::<NONCE_LEN>()?;
    let mut buffer = plaintext.to_vec();
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(aad),
        &mut buffer,
    )
    .map_err(|_| CryptoError::Authentication)?;
    Ok((STANDARD.encode(nonce), STANDARD.encode(buffer)))
}

fn decrypt(
    key: &LessSafeKey,
    aad: &[u8],
    alg: &str,
    nonce: &str,
    ciphertext: &str,
) -> Result<Vec<u8>, CryptoError> {
    if alg != ALGORITHM {
        return Err(CryptoError::Algorithm(alg.to_owned()));
    }
    let nonce: [u8; NONCE_LEN] = decode("nonce", nonce)?
        .try_into()
        .map_err(|_| CryptoError::Encoding("nonce"))?;
    let mut buffer = decode("ciphertext", ciphertext)?;
    let plaintext = key
        .open_in_place(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(aad),
            &mut buffer,
        )
        .map_err(|_| CryptoError::Authentication)?;
    Ok(plaintext.to_vec())
}

impl DataKey {
    /// A new random key with a new id.
    pub fn generate() -> Result<Self, CryptoError> {
        Ok(DataKey {
            id: format!("dk-{}", uuid::Uuid::new_v4().simple()),
            bytes: random::<KEY_LEN>()?,
        })
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// Seals `plaintext`, bound to `aad`.
    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<Sealed, CryptoError> {
        let (nonce, ciphertext) = encrypt(&aes(&self.bytes)?, aad, plaintext)?;
        Ok(Sealed {
            key_id: self.id.clone(),
            alg: ALGORITHM.to_owned(),
            nonce,
            ciphertext,
        })
    }

    /// Opens a value this key sealed with the same `aad`.
    pub fn open(&self, aad: &[u8], sealed: &Sealed) -> Result<Vec<u8>, CryptoError> {
        if sealed.key_id != self.id {
            return Err(CryptoError::WrongKey {
                expected: self.id.clone(),
                found: sealed.key_id.clone(),
            });
        }
        decrypt(
            &aes(&self.bytes)?,
            aad,
            &sealed.alg,
            &sealed.nonce,
            &sealed.ciphertext,
        )
    }
}

/// The key that wraps every data key: 32 bytes from configuration (a
/// Kubernetes Secret), or a Cloud KMS key in its place.
pub struct KeyEncryptionKey {
    id: String,
    key: LessSafeKey,
}

impl std::fmt::Debug for KeyEncryptionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyEncryptionKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// What a wrapping is bound to: the customer and the key's id.
fn wrapping_aad(customer_id: &str, key_id: &str) -> Vec<u8> {
    format!("{customer_id}\n{key_id}").into_bytes()
}

impl KeyEncryptionKey {
    /// The key named `id` from its base64 form (standard alphabet, padded).
    pub fn from_base64(id: &str, key: &str) -> Result<Self, CryptoError> {
        let bytes = decode("the key-encryption key", key.trim())?;
        if bytes.len() != KEY_LEN {
            return Err(CryptoError::KeyLength);
        }
        Ok(KeyEncryptionKey {
            id: id.to_owned(),
            key: aes(&bytes)?,
        })
    }

    /// A new random key's base64 form (for `./dev up` and tests).
    pub fn generate_base64() -> Result<String, CryptoError> {
        Ok(STANDARD.encode(random::<KEY_LEN>()?))
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// Wraps `key`, the data key of `customer_id`.
    pub fn wrap(&self, customer_id: &str, key: &DataKey) -> Result<WrappedKey, CryptoError> {
        let aad = wrapping_aad(customer_id, &key.id);
        let (nonce, ciphertext) = encrypt(&self.key, &aad, &key.bytes)?;
        Ok(WrappedKey {
            customer_id: customer_id.to_owned(),
            key_id: key.id.clone(),
            kek_id: self.id.clone(),
            alg: ALGORITHM.to_owned(),
            nonce,
            ciphertext,
        })
    }

    /// The data key inside `wrapped`.
    pub fn unwrap(&self, wrapped: &WrappedKey) -> Result<DataKey, CryptoError> {
        if wrapped.kek_id != self.id {
            return Err(CryptoError::WrongKek {
                expected: self.id.clone(),
                found: wrapped.kek_id.clone(),
            });
        }
        let aad = wrapping_aad(&wrapped.customer_id, &wrapped.key_id);
        let bytes = decrypt(
            &self.key,
            &aad,
            &wrapped.alg,
            &wrapped.nonce,
            &wrapped.ciphertext,
        )?;
        Ok(DataKey {
            id: wrapped.key_id.clone(),
            bytes: bytes.try_into().map_err(|_| CryptoError::KeyLength)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kek() -> KeyEncryptionKey {
        let key = KeyEncryptionKey::generate_base64().expect("random");
        KeyEncryptionKey::from_base64("kek-test", &key).expect("a valid key")
    }

    #[test]
    fn a_sealed_value_opens_with_its_key_and_the_same_associated_data_only() {
        let key = DataKey::generate().expect("random");
        let sealed = key.seal(b"c-1\n3", b"Ada Lovelace").expect("sealed");
        assert_eq!(sealed.alg, "A256GCM");
        assert!(!sealed.ciphertext.contains("Ada"));
        assert_eq!(
            key.open(b"c-1\n3", &sealed).expect("opens"),
            b"Ada Lovelace"
        );
        assert_eq!(
            key.open(b"c-1\n4", &sealed),
            Err(CryptoError::Authentication)
        );
        let other = DataKey::generate().expect("random");
        assert!(matches!(
            other.open(b"c-1\n3", &sealed),
            Err(CryptoError::WrongKey { .. })
        ));
        // The same id with other bytes (a forged key) fails authentication.
        let forged = DataKey {
            id: key.id.clone(),
            bytes: other.bytes,
        };
        assert_eq!(
            forged.open(b"c-1\n3", &sealed),
            Err(CryptoError::Authentication)
        );
        let mut tampered = sealed.clone();
        tampered.ciphertext.replace_range(0..2, "AA");
        assert_ne!(key.open(b"c-1\n3", &tampered), Ok(b"Ada Lovelace".to_vec()));
    }

    #[test]
    fn two_seals_of_the_same_value_differ() {
        let key = DataKey::generate().expect("random");
        let a = key.seal(b"x", b"same").expect("sealed");
        let b = key.seal(b"x", b"same").expect("sealed");
        assert_ne!((a.nonce, a.ciphertext), (b.nonce, b.ciphertext));
    }

    #[test]
    fn a_wrapped_key_unwraps_with_its_kek_for_its_customer_only() {
        let kek = kek();
        let key = DataKey::generate().expect("random");
        let wrapped = kek.wrap("c-1", &key).expect("wrapped");
        let unwrapped = kek.unwrap(&wrapped).expect("unwraps");
        let sealed = key.seal(b"a", b"secret").expect("sealed");
        assert_eq!(unwrapped.open(b"a", &sealed).expect("opens"), b"secret");
        let mut moved = wrapped.clone();
        moved.customer_id = "c-2".into();
        assert_eq!(
            kek.unwrap(&moved).map(|_| ()),
            Err(CryptoError::Authentication)
        );
        let other = KeyEncryptionKey::from_base64(
            "kek-test",
            &KeyEncryptionKey::generate_base64().expect("random"),
        )
        .expect("valid");
        assert_eq!(
            other.unwrap(&wrapped).map(|_| ()),
            Err(CryptoError::Authentication)
        );
        assert!(
            format!("{key:?} {kek:?}").len() < 120,
            "keys never print their bytes"
        );
    }

    #[test]
    fn a_kek_must_be_32_bytes_of_base64() {
        assert_eq!(
            KeyEncryptionKey::from_base64("k", "c2hvcnQ=").map(|_| ()),
            Err(CryptoError::KeyLength)
        );
        assert_eq!(
            KeyEncryptionKey::from_base64("k", "not base64!").map(|_| ()),
            Err(CryptoError::Encoding("the key-encryption key"))
        );
    }
}
