//! Proof of possession: `hex(HMAC-SHA256(key = new secret value, "rotation|consumer|version|nonce"))`.
//!
//! An ack that says "healthy" is only worth something if the consumer really loaded the new
//! key. Only a holder of the key can compute this MAC, it names the consumer (so one consumer
//! cannot ack for another) and the nonce (so an ack cannot be replayed for another attempt).

use crate::domain::{ConsumerId, Nonce, RotationId, SecretValue, SecretVersion};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// The lowercase hex MAC a consumer sends in its ack.
pub type Proof = String;

fn message(rotation: &RotationId, consumer: &ConsumerId, version: &SecretVersion, nonce: &Nonce) -> String {
    format!("{rotation}|{consumer}|{version}|{nonce}")
}

pub fn proof_for(
    key: &SecretValue,
    rotation: &RotationId,
    consumer: &ConsumerId,
    version: &SecretVersion,
    nonce: &Nonce,
) -> Proof {
    let mut mac = Hmac::<Sha256>::new_from_slice(key.expose().as_bytes()).expect("HMAC accepts any key length");
    mac.update(message(rotation, consumer, version, nonce).as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Constant-time comparison, so response timing does not leak how much of a forged proof
/// was right.
pub fn verify_proof(
    key: &SecretValue,
    rotation: &RotationId,
    consumer: &ConsumerId,
    version: &SecretVersion,
    nonce: &Nonce,
    proof: &str,
) -> bool {
    let expected = proof_for(key, rotation, consumer, version, nonce);
    let given = proof.trim().to_ascii_lowercase();
    expected.len() == given.len() && bool::from(expected.as_bytes().ct_eq(given.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answer_and_binding_to_every_field() {
        let key = SecretValue::new("key");
        let r = RotationId::parse("rot-1").unwrap();
        let c = ConsumerId::parse("web").unwrap();
        let v = SecretVersion::parse("abc123").unwrap();
        let n = Nonce::parse("00ff").unwrap();
        // HMAC-SHA256("key", "rot-1|web|abc123|00ff"), computed independently with Python's hmac.
        let p = proof_for(&key, &r, &c, &v, &n);
        assert_eq!(p, "875e49c71693cdd0c695b7202614fedb1cb08743d149b26e024ddc45f28c2d39");
        assert!(verify_proof(&key, &r, &c, &v, &n, &p));
        assert!(verify_proof(&key, &r, &c, &v, &n, &p.to_uppercase()));
        assert!(!verify_proof(&SecretValue::new("other"), &r, &c, &v, &n, &p));
        assert!(!verify_proof(&key, &r, &ConsumerId::parse("api").unwrap(), &v, &n, &p));
        assert!(!verify_proof(&key, &r, &c, &v, &Nonce::parse("00fe").unwrap(), &p));
        assert!(!verify_proof(&key, &r, &c, &v, &n, &p[..63]));
    }
}
