//! The table of two-key Azure resource kinds.
//!
//! Every kind is data, not code: one generic provider ([`super::ArmKeyProvider`]) reads this
//! table to know the api-version, the list and regenerate calls, how each slot is spelled on
//! the wire, where the values come back, and which switch turns key authentication off. The
//! infra helper derives the custom RBAC role from [`ResourceKind::actions`], so the role grants
//! exactly what this table calls. Checked against `shared/fixtures/arm` by `tests/arm_fixtures.rs`.

/// Where a slot's value is in the list response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyField {
    /// A JSON pointer, e.g. `/primaryKey`.
    Pointer(&'static str),
    /// Storage's `{"keys":[{"keyName":"key1","value":...}]}`: the entry with this keyName.
    StorageKeyName(&'static str),
}

/// One slot: how regenerate names it and where list returns it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotSpec {
    /// The value regenerate takes (body field value or path segment).
    pub wire: &'static str,
    pub field: KeyField,
    /// Under `properties.keysMetadata` of the resource (Cosmos DB): holds `generationTime` and
    /// `approximateLastUsageTime` for this key.
    pub metadata: Option<&'static str>,
}

/// How regenerate names the slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegenerateShape {
    /// POST `{regenerate_op}` with body `{field: slot.wire}`.
    BodyField(&'static str),
    /// POST `{regenerate_op}/{slot.wire}` with no body (AI Search).
    PathSegment,
}

/// The property that says key authentication is off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyAuthSwitch {
    /// A boolean that disables keys when true (`disableLocalAuth`, `disableAccessKeyAuthentication`).
    DisabledWhenTrue(&'static str),
    /// A boolean that disables keys when false; absent/null means enabled (`allowSharedKeyAccess`).
    DisabledWhenFalse(&'static str),
    /// A string enum that disables keys when "Disabled" (`accessKeysAuthentication`).
    DisabledWhenString(&'static str),
}

impl KeyAuthSwitch {
    /// The JSON pointer of the property in the resource's GET body.
    pub fn pointer(self) -> &'static str {
        match self {
            KeyAuthSwitch::DisabledWhenTrue(p) | KeyAuthSwitch::DisabledWhenFalse(p) | KeyAuthSwitch::DisabledWhenString(p) => p,
        }
    }

    /// True if the resource body says key auth is off.
    pub fn disabled_in(self, resource: &serde_json::Value) -> bool {
        let value = resource.pointer(self.pointer());
        match self {
            KeyAuthSwitch::DisabledWhenTrue(_) => value.and_then(|v| v.as_bool()) == Some(true),
            KeyAuthSwitch::DisabledWhenFalse(_) => value.and_then(|v| v.as_bool()) == Some(false),
            KeyAuthSwitch::DisabledWhenString(_) => {
                value.and_then(|v| v.as_str()).is_some_and(|s| s.eq_ignore_ascii_case("disabled"))
            }
        }
    }

    /// The property name, for messages ("properties.disableLocalAuth").
    pub fn describe(self) -> String {
        self.pointer().trim_start_matches('/').replace('/', ".")
    }
}

/// Which resource carries the key-auth switch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SwitchOn {
    /// The resource itself.
    Resource,
    /// The namespace the authorization rule belongs to (Service Bus, Event Hubs): the resource
    /// id cut after `namespaces/{name}`.
    Namespace,
}

/// One resource kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResourceKind {
    /// The name policies use (`kind = "redis"`).
    pub name: &'static str,
    /// ARM resource types this kind accepts (several for rules at namespace and entity level).
    pub resource_types: &'static [&'static str],
    pub api_version: &'static str,
    /// The list operation (path segment and RBAC action verb).
    pub list_op: &'static str,
    /// The regenerate operation.
    pub regenerate_op: &'static str,
    pub regenerate: RegenerateShape,
    pub slots: [SlotSpec; 2],
    pub key_auth: KeyAuthSwitch,
    pub switch_on: SwitchOn,
    /// The namespace's resource type when the switch is on the namespace.
    pub namespace_type: Option<&'static str>,
    /// Whether regenerate is declared long-running. Informative: every regenerate accepts
    /// 200, 201 and 202, because examples and specs disagree (Cognitive Services, SignalR).
    pub long_running: bool,
    /// Cosmos DB safe key rotation: refuses a key used in the last 12 hours unless
    /// `SkipAccountKeysLastUsageCheck` is sent, and reports `approximateLastUsageTime`.
    pub usage_check: bool,
    /// Where list returns each slot's ready-made connection string, for kinds whose consumers
    /// expect one in Key Vault rather than the bare key (JSON pointers, primary then secondary).
    pub connection_strings: Option<[&'static str; 2]>,
}

const fn pointer_slot(wire: &'static str, pointer: &'static str) -> SlotSpec {
    SlotSpec { wire, field: KeyField::Pointer(pointer), metadata: None }
}

const PRIMARY_SECONDARY_KEY_TYPE: [SlotSpec; 2] =
    [pointer_slot("Primary", "/primaryKey"), pointer_slot("Secondary", "/secondaryKey")];
const RULE_SLOTS: [SlotSpec; 2] = [pointer_slot("PrimaryKey", "/primaryKey"), pointer_slot("SecondaryKey", "/secondaryKey")];
const DISABLE_LOCAL_AUTH: KeyAuthSwitch = KeyAuthSwitch::DisabledWhenTrue("/properties/disableLocalAuth");

/// Every kind keyrelay can rotate.
pub const KINDS: &[ResourceKind] = &[
    ResourceKind {
        name: "redis",
        resource_types: &["Microsoft.Cache/redis"],
        api_version: "2024-11-01",
        list_op: "listKeys",
        regenerate_op: "regenerateKey",
        regenerate: RegenerateShape::BodyField("keyType"),
        slots: PRIMARY_SECONDARY_KEY_TYPE,
        key_auth: KeyAuthSwitch::DisabledWhenTrue("/properties/disableAccessKeyAuthentication"),
        switch_on: SwitchOn::Resource,
        namespace_type: None,
        long_running: false,
        usage_check: false,
        connection_strings: None,
    },
    ResourceKind {
        name: "redis-enterprise",
        resource_types: &["Microsoft.Cache/redisEnterprise/databases"],
        api_version: "2025-04-01",
        list_op: "listKeys",
        regenerate_op: "regenerateKey",
        regenerate: RegenerateShape::BodyField("keyType"),
        slots: PRIMARY_SECONDARY_KEY_TYPE,
        key_auth: KeyAuthSwitch::DisabledWhenString("/properties/accessKeysAuthentication"),
        switch_on: SwitchOn::Resource,
        namespace_type: None,
        long_running: true,
        usage_check: false,
        connection_strings: None,
    },
    ResourceKind {
        name: "storage",
        resource_types: &["Microsoft.Storage/storageAccounts"],
        api_version: "2025-08-01",
        list_op: "listKeys",
        regenerate_op: "regenerateKey",
        regenerate: RegenerateShape::BodyField("keyName"),
        slots: [
            SlotSpec { wire: "key1", field: KeyField::StorageKeyName("key1"), metadata: None },
            SlotSpec { wire: "key2", field: KeyField::StorageKeyName("key2"), metadata: None },
        ],
        key_auth: KeyAuthSwitch::DisabledWhenFalse("/properties/allowSharedKeyAccess"),
        switch_on: SwitchOn::Resource,
        namespace_type: None,
        long_running: false,
        usage_check: false,
        connection_strings: None,
    },
    ResourceKind {
        name: "cosmos",
        resource_types: &["Microsoft.DocumentDB/databaseAccounts"],
        api_version: "2025-10-15",
        list_op: "listKeys",
        regenerate_op: "regenerateKey",
        regenerate: RegenerateShape::BodyField("keyKind"),
        slots: [
            SlotSpec { wire: "primary", field: KeyField::Pointer("/primaryMasterKey"), metadata: Some("primaryMasterKey") },
            SlotSpec { wire: "secondary", field: KeyField::Pointer("/secondaryMasterKey"), metadata: Some("secondaryMasterKey") },
        ],
        key_auth: DISABLE_LOCAL_AUTH,
        switch_on: SwitchOn::Resource,
        namespace_type: None,
        long_running: true,
        usage_check: true,
        connection_strings: None,
    },
    ResourceKind {
        name: "cosmos-readonly",
        resource_types: &["Microsoft.DocumentDB/databaseAccounts"],
        api_version: "2025-10-15",
        // The read-only pair has its own list call, so this credential needs no read-write keys.
        list_op: "readonlykeys",
        regenerate_op: "regenerateKey",
        regenerate: RegenerateShape::BodyField("keyKind"),
        slots: [
            SlotSpec {
                wire: "primaryReadonly",
                field: KeyField::Pointer("/primaryReadonlyMasterKey"),
                metadata: Some("primaryReadonlyMasterKey"),
            },
            SlotSpec {
                wire: "secondaryReadonly",
                field: KeyField::Pointer("/secondaryReadonlyMasterKey"),
                metadata: Some("secondaryReadonlyMasterKey"),
            },
        ],
        key_auth: DISABLE_LOCAL_AUTH,
        switch_on: SwitchOn::Resource,
        namespace_type: None,
        long_running: true,
        usage_check: true,
        connection_strings: None,
    },
    ResourceKind {
        name: "servicebus-rule",
        resource_types: &[
            "Microsoft.ServiceBus/namespaces/AuthorizationRules",
            "Microsoft.ServiceBus/namespaces/queues/authorizationRules",
            "Microsoft.ServiceBus/namespaces/topics/authorizationRules",
        ],
        api_version: "2024-01-01",
        list_op: "listKeys",
        regenerate_op: "regenerateKeys",
        regenerate: RegenerateShape::BodyField("keyType"),
        slots: RULE_SLOTS,
        key_auth: DISABLE_LOCAL_AUTH,
        switch_on: SwitchOn::Namespace,
        namespace_type: Some("Microsoft.ServiceBus/namespaces"),
        long_running: false,
        usage_check: false,
        connection_strings: Some(["/primaryConnectionString", "/secondaryConnectionString"]),
    },
    ResourceKind {
        name: "eventhubs-rule",
        resource_types: &[
            "Microsoft.EventHub/namespaces/authorizationRules",
            "Microsoft.EventHub/namespaces/eventhubs/authorizationRules",
        ],
        api_version: "2024-01-01",
        list_op: "listKeys",
        regenerate_op: "regenerateKeys",
        regenerate: RegenerateShape::BodyField("keyType"),
        slots: RULE_SLOTS,
        key_auth: DISABLE_LOCAL_AUTH,
        switch_on: SwitchOn::Namespace,
        namespace_type: Some("Microsoft.EventHub/namespaces"),
        long_running: false,
        usage_check: false,
        connection_strings: Some(["/primaryConnectionString", "/secondaryConnectionString"]),
    },
    ResourceKind {
        name: "cognitive-services",
        resource_types: &["Microsoft.CognitiveServices/accounts"],
        api_version: "2025-09-01",
        list_op: "listKeys",
        regenerate_op: "regenerateKey",
        regenerate: RegenerateShape::BodyField("keyName"),
        slots: [pointer_slot("Key1", "/key1"), pointer_slot("Key2", "/key2")],
        key_auth: DISABLE_LOCAL_AUTH,
        switch_on: SwitchOn::Resource,
        namespace_type: None,
        long_running: false,
        usage_check: false,
        connection_strings: None,
    },
    ResourceKind {
        name: "search-admin",
        resource_types: &["Microsoft.Search/searchServices"],
        api_version: "2025-05-01",
        list_op: "listAdminKeys",
        regenerate_op: "regenerateAdminKey",
        regenerate: RegenerateShape::PathSegment,
        slots: [pointer_slot("primary", "/primaryKey"), pointer_slot("secondary", "/secondaryKey")],
        key_auth: DISABLE_LOCAL_AUTH,
        switch_on: SwitchOn::Resource,
        namespace_type: None,
        long_running: false,
        usage_check: false,
        connection_strings: None,
    },
    ResourceKind {
        name: "signalr",
        resource_types: &["Microsoft.SignalRService/signalR"],
        api_version: "2024-03-01",
        list_op: "listKeys",
        regenerate_op: "regenerateKey",
        regenerate: RegenerateShape::BodyField("keyType"),
        slots: PRIMARY_SECONDARY_KEY_TYPE,
        key_auth: DISABLE_LOCAL_AUTH,
        switch_on: SwitchOn::Resource,
        namespace_type: None,
        long_running: true,
        usage_check: false,
        connection_strings: Some(["/primaryConnectionString", "/secondaryConnectionString"]),
    },
    ResourceKind {
        name: "webpubsub",
        resource_types: &["Microsoft.SignalRService/webPubSub"],
        api_version: "2024-03-01",
        list_op: "listKeys",
        regenerate_op: "regenerateKey",
        regenerate: RegenerateShape::BodyField("keyType"),
        slots: PRIMARY_SECONDARY_KEY_TYPE,
        key_auth: DISABLE_LOCAL_AUTH,
        switch_on: SwitchOn::Resource,
        namespace_type: None,
        long_running: true,
        usage_check: false,
        connection_strings: Some(["/primaryConnectionString", "/secondaryConnectionString"]),
    },
    ResourceKind {
        name: "maps",
        resource_types: &["Microsoft.Maps/accounts"],
        api_version: "2023-06-01",
        list_op: "listKeys",
        regenerate_op: "regenerateKey",
        regenerate: RegenerateShape::BodyField("keyType"),
        slots: [pointer_slot("primary", "/primaryKey"), pointer_slot("secondary", "/secondaryKey")],
        key_auth: DISABLE_LOCAL_AUTH,
        switch_on: SwitchOn::Resource,
        namespace_type: None,
        long_running: false,
        usage_check: false,
        connection_strings: None,
    },
];

impl ResourceKind {
    /// Looks a kind up by its policy name.
    pub fn by_name(name: &str) -> Result<&'static ResourceKind, String> {
        KINDS.iter().find(|k| k.name == name.trim()).ok_or_else(|| {
            let names: Vec<&str> = KINDS.iter().map(|k| k.name).collect();
            format!("unknown resource kind {name:?}; known kinds: {}", names.join(", "))
        })
    }

    pub fn slot(&self, slot: crate::domain::Slot) -> &SlotSpec {
        match slot {
            crate::domain::Slot::Primary => &self.slots[0],
            crate::domain::Slot::Secondary => &self.slots[1],
        }
    }

    /// The RBAC actions this kind's calls need, for a least-privilege custom role: read of the
    /// resource carrying the key-auth switch (and of the resource, for usage metadata), list
    /// and regenerate on every accepted resource type.
    pub fn actions(&self) -> Vec<String> {
        let mut actions = Vec::new();
        match self.switch_on {
            SwitchOn::Namespace => actions.extend(self.namespace_type.map(|t| format!("{t}/read"))),
            SwitchOn::Resource => actions.extend(self.resource_types.iter().map(|t| format!("{t}/read"))),
        }
        for t in self.resource_types {
            actions.push(format!("{t}/{}/action", self.list_op));
            actions.push(format!("{t}/{}/action", self.regenerate_op));
        }
        actions
    }
}

/// Every action of every kind, de-duplicated and sorted: the custom role's `actions`.
pub fn all_actions() -> Vec<String> {
    let mut all: Vec<String> = KINDS.iter().flat_map(ResourceKind::actions).collect();
    all.sort_by_key(|a| a.to_ascii_lowercase());
    all.dedup_by(|a, b| a.eq_ignore_ascii_case(b));
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_names_are_the_agreed_ones_and_unique() {
        let names: Vec<&str> = KINDS.iter().map(|k| k.name).collect();
        assert_eq!(
            names,
            [
                "redis",
                "redis-enterprise",
                "storage",
                "cosmos",
                "cosmos-readonly",
                "servicebus-rule",
                "eventhubs-rule",
                "cognitive-services",
                "search-admin",
                "signalr",
                "webpubsub",
                "maps"
            ]
        );
        let err = ResourceKind::by_name("redis-cloud").unwrap_err();
        assert!(err.contains("known kinds: redis, redis-enterprise"), "{err}");
    }

    #[test]
    fn actions_cover_list_regenerate_and_the_switch() {
        let sb = ResourceKind::by_name("servicebus-rule").unwrap().actions();
        assert!(sb.contains(&"Microsoft.ServiceBus/namespaces/read".to_string()));
        assert!(sb.contains(&"Microsoft.ServiceBus/namespaces/queues/authorizationRules/regenerateKeys/action".to_string()));
        let search = ResourceKind::by_name("search-admin").unwrap().actions();
        assert_eq!(
            search,
            [
                "Microsoft.Search/searchServices/read",
                "Microsoft.Search/searchServices/listAdminKeys/action",
                "Microsoft.Search/searchServices/regenerateAdminKey/action"
            ]
        );
        let all = all_actions();
        // cosmos and cosmos-readonly share read and regenerate.
        assert_eq!(all.iter().filter(|a| a.as_str() == "Microsoft.DocumentDB/databaseAccounts/regenerateKey/action").count(), 1);
    }

    #[test]
    fn switches_read_their_property() {
        let off = serde_json::json!({"properties": {"allowSharedKeyAccess": false}});
        let unset = serde_json::json!({"properties": {"allowSharedKeyAccess": null}});
        let storage = ResourceKind::by_name("storage").unwrap().key_auth;
        assert!(storage.disabled_in(&off) && !storage.disabled_in(&unset));
        let re = ResourceKind::by_name("redis-enterprise").unwrap().key_auth;
        assert!(re.disabled_in(&serde_json::json!({"properties": {"accessKeysAuthentication": "Disabled"}})));
        assert!(!re.disabled_in(&serde_json::json!({"properties": {"accessKeysAuthentication": "Enabled"}})));
        assert_eq!(re.describe(), "properties.accessKeysAuthentication");
    }
}
