//! Secret config values at rest: AES-256-GCM under `VANE_ENCRYPTION_KEY` (32 bytes, base64),
//! stored as base64(12-byte random nonce ‖ ciphertext+tag). Plaintext exists only in memory for
//! the write and for admin/read responses; it never reaches logs, audit rows, errors or snapshots.

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::error::{Error, Result};

#[derive(Clone)]
pub struct Cipher(Aes256Gcm);

impl std::fmt::Debug for Cipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Cipher(..)")
    }
}

impl Cipher {
    /// From the base64 text of a 32-byte key.
    pub fn from_base64(text: &str) -> std::result::Result<Cipher, String> {
        let bytes = STANDARD.decode(text.trim()).map_err(|e| format!("VANE_ENCRYPTION_KEY is not base64: {e}"))?;
        if bytes.len() != 32 {
            return Err(format!("VANE_ENCRYPTION_KEY must decode to 32 bytes, not {}", bytes.len()));
        }
        let key =
            <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| "VANE_ENCRYPTION_KEY must be 32 bytes".to_owned())?;
        Ok(Cipher(Aes256Gcm::new(&Key::<Aes256Gcm>::from(key))))
    }

    pub fn encrypt(&self, plaintext: &[u8]) -> Result<String> {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let sealed = self.0.encrypt(&nonce, plaintext).map_err(|_| Error::Internal("encryption failed".into()))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(STANDARD.encode(out))
    }

    pub fn decrypt(&self, stored: &str) -> Result<Vec<u8>> {
        let bytes = STANDARD.decode(stored).map_err(|_| Error::Internal("stored secret is not base64".into()))?;
        if bytes.len() < 12 {
            return Err(Error::Internal("stored secret is too short".into()));
        }
        let (nonce, sealed) = bytes.split_at(12);
        let nonce = <[u8; 12]>::try_from(nonce).map_err(|_| Error::Internal("bad nonce".into()))?;
        self.0
            .decrypt(&Nonce::from(nonce), sealed)
            .map_err(|_| Error::Internal("a secret does not decrypt with the configured VANE_ENCRYPTION_KEY".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_wrong_key() {
        let a = Cipher::from_base64(&STANDARD.encode([7u8; 32])).unwrap();
        let b = Cipher::from_base64(&STANDARD.encode([8u8; 32])).unwrap();
        let sealed = a.encrypt(b"\"s3cret\"").unwrap();
        assert!(!sealed.contains("s3cret"));
        assert_eq!(a.decrypt(&sealed).unwrap(), b"\"s3cret\"");
        assert!(b.decrypt(&sealed).is_err());
        assert_ne!(a.encrypt(b"x").unwrap(), a.encrypt(b"x").unwrap(), "fresh nonce per write");
        assert!(Cipher::from_base64("short").is_err());
        assert!(Cipher::from_base64(&STANDARD.encode([1u8; 16])).is_err());
    }
}
