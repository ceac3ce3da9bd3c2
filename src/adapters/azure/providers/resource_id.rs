//! ARM resource ids, parsed once so that a typo in a policy fails at load time with the
//! expected shape instead of as a 404 in the middle of a rotation.

use super::kinds::ResourceKind;

/// `/subscriptions/{sub}/resourceGroups/{rg}/providers/{Namespace}/{type}/{name}[/{type}/{name}]*`
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ResourceId {
    id: String,
    /// `Namespace/type[/type]*`, e.g. `Microsoft.Cache/redisEnterprise/databases`.
    resource_type: String,
    /// Index in `id` where `providers/{Namespace}/{type}/{name}` ends (the top-level resource).
    top_level_end: usize,
}

impl ResourceId {
    pub fn parse(id: &str) -> Result<ResourceId, String> {
        let id = id.trim().trim_end_matches('/');
        let shape = "expected /subscriptions/{sub}/resourceGroups/{rg}/providers/{Namespace}/{type}/{name}";
        let segments: Vec<&str> = id.split('/').collect();
        if segments.len() < 9
            || !segments[0].is_empty()
            || !segments[1].eq_ignore_ascii_case("subscriptions")
            || !segments[3].eq_ignore_ascii_case("resourceGroups")
            || !segments[5].eq_ignore_ascii_case("providers")
            || segments.len() % 2 != 1
            || segments.iter().skip(1).any(|s| s.is_empty())
        {
            return Err(format!("resource id {id:?}: {shape}"));
        }
        if let Some(bad) = id.chars().find(|c| c.is_whitespace() || matches!(c, '?' | '#' | '%')) {
            return Err(format!("resource id {id:?} contains {bad:?}"));
        }
        let mut resource_type = segments[6].to_string();
        for pair in segments[7..].chunks(2) {
            resource_type.push('/');
            resource_type.push_str(pair[0]);
        }
        let top_level_end = segments[..9].join("/").len();
        Ok(ResourceId { id: id.to_string(), resource_type, top_level_end })
    }

    /// Parses and checks that the id's type is one the kind accepts.
    pub fn for_kind(id: &str, kind: &ResourceKind) -> Result<ResourceId, String> {
        let parsed = ResourceId::parse(id)?;
        if !kind.resource_types.iter().any(|t| t.eq_ignore_ascii_case(&parsed.resource_type)) {
            return Err(format!(
                "resource id {id:?} is a {}, but kind {:?} expects {}",
                parsed.resource_type,
                kind.name,
                kind.resource_types.join(" or ")
            ));
        }
        Ok(parsed)
    }

    pub fn as_str(&self) -> &str {
        &self.id
    }

    pub fn resource_type(&self) -> &str {
        &self.resource_type
    }

    /// The top-level resource (`.../providers/Microsoft.ServiceBus/namespaces/{ns}`).
    pub fn top_level(&self) -> &str {
        &self.id[..self.top_level_end]
    }

    /// The last segment (the resource's name).
    pub fn name(&self) -> &str {
        self.id.rsplit('/').next().unwrap_or_default()
    }
}

impl std::fmt::Display for ResourceId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_nested_types_and_the_namespace() {
        let id = ResourceId::parse(
            "/subscriptions/s/resourceGroups/g/providers/Microsoft.ServiceBus/namespaces/ns1/queues/q1/authorizationRules/send",
        )
        .unwrap();
        assert_eq!(id.resource_type(), "Microsoft.ServiceBus/namespaces/queues/authorizationRules");
        assert_eq!(id.top_level(), "/subscriptions/s/resourceGroups/g/providers/Microsoft.ServiceBus/namespaces/ns1");
        assert_eq!(id.name(), "send");
    }

    #[test]
    fn refuses_wrong_shapes_and_wrong_kinds() {
        assert!(ResourceId::parse("subscriptions/s").unwrap_err().contains("expected /subscriptions"));
        assert!(ResourceId::parse("/subscriptions/s/resourceGroups/g/providers/Microsoft.Cache/redis").is_err());
        let redis = ResourceKind::by_name("redis").unwrap();
        let err = ResourceId::for_kind("/subscriptions/s/resourceGroups/g/providers/Microsoft.Storage/storageAccounts/a", redis)
            .unwrap_err();
        assert!(err.contains("expects Microsoft.Cache/redis"), "{err}");
        assert!(ResourceId::for_kind("/subscriptions/s/resourceGroups/g/providers/microsoft.cache/Redis/c", redis).is_ok());
    }
}
