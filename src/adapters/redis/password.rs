//! Strong passwords for Redis ACL users.
//!
//! Redis Cloud refuses weak ACL passwords (`ACL_USER_PASSWORD_NOT_VALID`,
//! `cluster-user-password-wrong-pattern`): it wants upper and lower case letters, digits and a
//! special character. A self-hosted `ACL SETUSER name >password` takes any byte string except
//! spaces. One generator satisfies both, with ~200 bits of entropy.

use crate::domain::SecretValue;
use rand::rngs::OsRng;
use rand::seq::SliceRandom;
use rand::Rng;

const LOWER: &[u8] = b"abcdefghijkmnopqrstuvwxyz";
const UPPER: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ";
const DIGITS: &[u8] = b"23456789";
/// Specials that need no quoting in a URL userinfo, a shell or a connection string.
const SPECIAL: &[u8] = b"-_.~";

/// Length of generated passwords.
pub const PASSWORD_LEN: usize = 40;

/// A new random password with at least one character of every class, from the OS RNG.
pub fn strong_password() -> SecretValue {
    let mut rng = OsRng;
    let classes = [LOWER, UPPER, DIGITS, SPECIAL];
    let all: Vec<u8> = classes.concat();
    let mut bytes: Vec<u8> = classes.iter().map(|c| c[rng.gen_range(0..c.len())]).collect();
    while bytes.len() < PASSWORD_LEN {
        bytes.push(all[rng.gen_range(0..all.len())]);
    }
    bytes.shuffle(&mut rng);
    SecretValue::new(String::from_utf8(bytes).expect("ASCII alphabet"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_class_is_present_and_values_differ() {
        let a = strong_password();
        let b = strong_password();
        assert_ne!(a.expose(), b.expose());
        for p in [a, b] {
            let s = p.expose();
            assert_eq!(s.len(), PASSWORD_LEN);
            assert!(s.bytes().any(|c| LOWER.contains(&c)));
            assert!(s.bytes().any(|c| UPPER.contains(&c)));
            assert!(s.bytes().any(|c| DIGITS.contains(&c)));
            assert!(s.bytes().any(|c| SPECIAL.contains(&c)));
            assert!(!s.contains(' '));
        }
    }
}
