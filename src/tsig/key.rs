//! TSIG keys: the forms `tsig-keygen`, `keymgr` and `dig -y` print, and the keyring.

use std::fmt;

use data_encoding::BASE64;
use hickory_proto::rr::Name;
use hickory_proto::rr::rdata::tsig::TsigAlgorithm;
use serde::Deserialize;
use thiserror::Error;

use super::TsigFailure;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum TsigKeyError {
    #[error(
        "TSIG key {name}: unsupported algorithm {algorithm} (use hmac-sha256, hmac-sha384, hmac-sha512 or hmac-sha1)"
    )]
    Algorithm { name: String, algorithm: String },
    #[error("TSIG key {name}: secret is not valid base64: {reason}")]
    Secret { name: String, reason: String },
    #[error("TSIG key name {0:?} is not a valid domain name")]
    Name(String),
    #[error("TSIG key text: {0}")]
    Syntax(String),
}

/// A key as written in the config: the three values `tsig-keygen` prints in its `key`
/// block and `keymgr -t` prints under `key:` (`id`, `algorithm`, `secret`).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct TsigKeyConfig {
    pub name: String,
    #[serde(default = "default_algorithm")]
    pub algorithm: String,
    /// Base64, exactly as the tools print it.
    pub secret: String,
}

fn default_algorithm() -> String {
    "hmac-sha256".to_string()
}

/// A usable key. The secret is not printed by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct TsigKey {
    pub name: Name,
    pub algorithm: TsigAlgorithm,
    secret: Vec<u8>,
}

impl fmt::Debug for TsigKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TsigKey")
            .field("name", &self.name)
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

impl TryFrom<&TsigKeyConfig> for TsigKey {
    type Error = TsigKeyError;
    fn try_from(c: &TsigKeyConfig) -> Result<Self, Self::Error> {
        TsigKey::new(&c.name, &c.algorithm, &c.secret)
    }
}

impl TsigKey {
    pub fn new(name: &str, algorithm: &str, secret_b64: &str) -> Result<TsigKey, TsigKeyError> {
        let mut kname =
            Name::from_ascii(name.trim()).map_err(|_| TsigKeyError::Name(name.to_string()))?;
        kname.set_fqdn(true);
        let alg = parse_algorithm(algorithm).ok_or_else(|| TsigKeyError::Algorithm {
            name: name.to_string(),
            algorithm: algorithm.to_string(),
        })?;
        let secret =
            BASE64
                .decode(secret_b64.trim().as_bytes())
                .map_err(|e| TsigKeyError::Secret {
                    name: name.to_string(),
                    reason: e.to_string(),
                })?;
        Ok(TsigKey {
            name: kname,
            algorithm: alg,
            secret,
        })
    }

    /// Parses `dig -y` / `kdig -y` syntax: `[alg:]name:base64`.
    pub fn from_dig_spec(spec: &str) -> Result<TsigKey, TsigKeyError> {
        let parts: Vec<&str> = spec.split(':').collect();
        match parts.as_slice() {
            [name, secret] => TsigKey::new(name, "hmac-sha256", secret),
            [alg, name, secret] => TsigKey::new(name, alg, secret),
            _ => Err(TsigKeyError::Syntax(format!(
                "expected [algorithm:]name:secret, got {spec:?}"
            ))),
        }
    }

    /// Parses every `key "name" { algorithm ...; secret "..."; };` block of the text that
    /// `tsig-keygen` prints (and BIND's `named.conf` key clauses).
    pub fn parse_bind_keys(text: &str) -> Result<Vec<TsigKey>, TsigKeyError> {
        let mut keys = Vec::new();
        let mut rest = text;
        while let Some(pos) = rest.find("key") {
            let after = &rest[pos + 3..];
            let open = after
                .find('{')
                .ok_or_else(|| TsigKeyError::Syntax("key without '{'".into()))?;
            let name = after[..open].trim().trim_matches('"').to_string();
            let close = after[open..]
                .find('}')
                .ok_or_else(|| TsigKeyError::Syntax(format!("key {name}: no closing '}}'")))?;
            let body = &after[open + 1..open + close];
            let mut alg = None;
            let mut secret = None;
            for stmt in body.split(';') {
                let stmt = stmt.trim();
                if let Some(v) = stmt.strip_prefix("algorithm") {
                    alg = Some(v.trim().trim_matches('"').to_string());
                } else if let Some(v) = stmt.strip_prefix("secret") {
                    secret = Some(v.trim().trim_matches('"').to_string());
                }
            }
            let secret =
                secret.ok_or_else(|| TsigKeyError::Syntax(format!("key {name}: no secret")))?;
            let alg = alg.unwrap_or_else(default_algorithm);
            keys.push(TsigKey::new(&name, &alg, &secret)?);
            rest = &after[open + close..];
        }
        Ok(keys)
    }

    /// The HMAC key. Computed here rather than by hickory, which has no hmac-sha1: the
    /// algorithm BIND 9 and Knot still accept and older `tsig-keygen -a` setups use.
    fn hmac_key(&self) -> Result<ring::hmac::Key, TsigFailure> {
        let alg = match self.algorithm {
            TsigAlgorithm::HmacSha1 => ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
            TsigAlgorithm::HmacSha256 => ring::hmac::HMAC_SHA256,
            TsigAlgorithm::HmacSha384 => ring::hmac::HMAC_SHA384,
            TsigAlgorithm::HmacSha512 => ring::hmac::HMAC_SHA512,
            ref other => {
                return Err(TsigFailure::Crypto(format!(
                    "unsupported algorithm {other:?}"
                )));
            }
        };
        Ok(ring::hmac::Key::new(alg, &self.secret))
    }

    pub(crate) fn mac(&self, data: &[u8]) -> Result<Vec<u8>, TsigFailure> {
        Ok(ring::hmac::sign(&self.hmac_key()?, data).as_ref().to_vec())
    }

    /// Constant-time comparison (ring's `verify`).
    pub(crate) fn verify_mac(&self, data: &[u8], mac: &[u8]) -> bool {
        self.hmac_key()
            .is_ok_and(|k| ring::hmac::verify(&k, data, mac).is_ok())
    }
}

fn parse_algorithm(s: &str) -> Option<TsigAlgorithm> {
    let alg = match s.trim().trim_end_matches('.').to_ascii_lowercase().as_str() {
        "hmac-sha1" => TsigAlgorithm::HmacSha1,
        "hmac-sha256" => TsigAlgorithm::HmacSha256,
        "hmac-sha384" => TsigAlgorithm::HmacSha384,
        "hmac-sha512" => TsigAlgorithm::HmacSha512,
        _ => return None,
    };
    Some(alg)
}

/// The keys a node knows, looked up by the name and algorithm in an incoming TSIG RR.
#[derive(Debug, Clone, Default)]
pub struct Keyring {
    keys: Vec<TsigKey>,
}

impl Keyring {
    pub fn new(keys: Vec<TsigKey>) -> Self {
        Keyring { keys }
    }

    pub fn find(&self, name: &Name, alg: &TsigAlgorithm) -> Option<&TsigKey> {
        self.keys
            .iter()
            .find(|k| k.name == *name && &k.algorithm == alg)
    }

    pub fn get(&self, name: &Name) -> Option<&TsigKey> {
        self.keys.iter().find(|k| k.name == *name)
    }
}
