//! The tags on a Key Vault secret version: keyrelay's own, and the ones Azure's dual-key
//! rotation samples write (`CredentialId`, `ProviderAddress`, `ValidityPeriodDays`), so a team
//! can switch from the samples to keyrelay without re-seeding its secrets.

use crate::domain::{RotationId, Slot};
use crate::ports::PublishRequest;
use std::collections::BTreeMap;

pub const SLOT_TAG: &str = "keyrelay-slot";
pub const ROTATION_TAG: &str = "keyrelay-rotation";
pub const RESOURCE_TAG: &str = "keyrelay-resource";
/// The samples' slot tag: `key1`/`key2` for Storage, `Primary`/`Secondary` elsewhere.
pub const SAMPLE_SLOT_TAG: &str = "CredentialId";
/// The samples' resource id tag.
pub const SAMPLE_RESOURCE_TAG: &str = "ProviderAddress";
/// The samples' validity (days until `exp`).
pub const SAMPLE_VALIDITY_TAG: &str = "ValidityPeriodDays";

fn tag<'a>(tags: &'a BTreeMap<String, String>, name: &str) -> Option<&'a str> {
    tags.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

/// The slot a version holds: keyrelay's tag, else the samples' `CredentialId`.
pub fn slot_of(tags: &BTreeMap<String, String>) -> Option<Slot> {
    tag(tags, SLOT_TAG).or_else(|| tag(tags, SAMPLE_SLOT_TAG)).and_then(|s| Slot::parse(s).ok())
}

pub fn rotation_of(tags: &BTreeMap<String, String>) -> Option<RotationId> {
    tag(tags, ROTATION_TAG).and_then(|s| RotationId::parse(s).ok())
}

/// The resource id the version's key belongs to: keyrelay's tag, else `ProviderAddress`.
pub fn resource_of(tags: &BTreeMap<String, String>) -> Option<String> {
    tag(tags, RESOURCE_TAG).or_else(|| tag(tags, SAMPLE_RESOURCE_TAG)).map(str::to_string)
}

/// The samples' validity period, if the version carries one.
pub fn validity_of(tags: &BTreeMap<String, String>) -> Option<chrono::Duration> {
    tag(tags, SAMPLE_VALIDITY_TAG).and_then(|d| d.trim().parse::<i64>().ok()).filter(|d| *d > 0).map(chrono::Duration::days)
}

/// Writes `slot` in the spelling the previous `CredentialId` used (`key1`/`key2`,
/// `Primary`/`Secondary`, ...), so the samples' function, if still deployed, reads it.
fn sample_spelling(previous: &str, slot: Slot) -> String {
    let (primary, secondary) = match previous.trim().to_ascii_lowercase().as_str() {
        "key1" | "key2" => ("key1", "key2"),
        "primarykey" | "secondarykey" => ("PrimaryKey", "SecondaryKey"),
        "primary" | "secondary" if previous.starts_with(|c: char| c.is_ascii_lowercase()) => ("primary", "secondary"),
        _ => ("Primary", "Secondary"),
    };
    match slot {
        Slot::Primary => primary.to_string(),
        Slot::Secondary => secondary.to_string(),
    }
}

/// The tags of a version keyrelay publishes: its own three, plus the samples' tags carried
/// forward (with `CredentialId` naming the new slot) when the previous version had them.
pub fn publish_tags(request: &PublishRequest, previous: Option<&BTreeMap<String, String>>) -> BTreeMap<String, String> {
    let mut tags = BTreeMap::from([
        (SLOT_TAG.to_string(), request.slot.to_string()),
        (ROTATION_TAG.to_string(), request.rotation.to_string()),
        (RESOURCE_TAG.to_string(), request.resource_id.clone()),
    ]);
    if let Some(previous) = previous {
        if let Some(old) = tag(previous, SAMPLE_SLOT_TAG) {
            tags.insert(SAMPLE_SLOT_TAG.to_string(), sample_spelling(old, request.slot));
            tags.insert(SAMPLE_RESOURCE_TAG.to_string(), request.resource_id.clone());
            if let Some(days) = tag(previous, SAMPLE_VALIDITY_TAG) {
                tags.insert(SAMPLE_VALIDITY_TAG.to_string(), days.to_string());
            }
        }
    }
    tags
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn sample_tags_are_understood_and_carried_forward() {
        let sample = tags(&[("CredentialId", "key1"), ("ProviderAddress", "/subscriptions/s/x"), ("ValidityPeriodDays", "60")]);
        assert_eq!(slot_of(&sample), Some(Slot::Primary));
        assert_eq!(resource_of(&sample).as_deref(), Some("/subscriptions/s/x"));
        assert_eq!(validity_of(&sample), Some(chrono::Duration::days(60)));
        assert_eq!(rotation_of(&sample), None);

        let request = PublishRequest {
            slot: Slot::Secondary,
            rotation: RotationId::parse("rot-1").unwrap(),
            resource_id: "/subscriptions/s/x".into(),
            content_type: "text/plain".into(),
            not_before: None,
            expires: None,
        };
        let out = publish_tags(&request, Some(&sample));
        assert_eq!(out["CredentialId"], "key2");
        assert_eq!(out["ValidityPeriodDays"], "60");
        assert_eq!(out[SLOT_TAG], "secondary");
        assert_eq!(slot_of(&out), Some(Slot::Secondary));
        assert_eq!(publish_tags(&request, Some(&tags(&[("CredentialId", "Primary")])))["CredentialId"], "Secondary");
        assert!(!publish_tags(&request, Some(&tags(&[("other", "x")]))).contains_key("CredentialId"));
        // keyrelay's own tag wins over a stale sample tag.
        assert_eq!(slot_of(&tags(&[("CredentialId", "key1"), (SLOT_TAG, "secondary")])), Some(Slot::Secondary));
    }
}
