//! Lockgate roles and how identity-provider app roles and groups map to
//! them. Roles are ordered: each one may do everything the roles below it
//! may, so a route names the least role it needs.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Opens their own lockers and books flex lockers.
    LockerUser,
    /// Reads the audit log and the provisioning log.
    Auditor,
    /// Manages badges, PINs and app tokens, and explains decisions.
    Helpdesk,
    /// Manages sites, banks and lockers, and records clear-outs.
    FacilityManager,
    /// Manages policies, settings and sign-in of the whole tenant.
    TenantAdmin,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::LockerUser,
        Role::Auditor,
        Role::Helpdesk,
        Role::FacilityManager,
        Role::TenantAdmin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::LockerUser => "locker_user",
            Role::Auditor => "auditor",
            Role::Helpdesk => "helpdesk",
            Role::FacilityManager => "facility_manager",
            Role::TenantAdmin => "tenant_admin",
        }
    }

    pub fn parse(text: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|role| role.as_str() == text)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A tenant's mapping from the identity provider's app role values and
/// group ids to Lockgate roles.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleMapping {
    /// App role value (the `roles` claim), such as `Locker.Admin`.
    #[serde(default)]
    pub app_roles: BTreeMap<String, Role>,
    /// Group object id (the `groups` claim).
    #[serde(default)]
    pub groups: BTreeMap<String, Role>,
}

impl RoleMapping {
    /// Returns the highest role any of the user's app roles or groups maps to.
    pub fn role_of(&self, app_roles: &[String], groups: &[String]) -> Option<Role> {
        let from_roles = app_roles.iter().filter_map(|r| self.app_roles.get(r));
        let from_groups = groups.iter().filter_map(|g| self.groups.get(g));
        from_roles.chain(from_groups).copied().max()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_ordered_by_power() {
        assert!(Role::TenantAdmin > Role::FacilityManager);
        assert!(Role::FacilityManager > Role::Helpdesk);
        assert!(Role::Helpdesk > Role::Auditor);
        assert!(Role::Auditor > Role::LockerUser);
    }

    #[test]
    fn role_text_round_trips() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("admin"), None);
    }

    #[test]
    fn mapping_takes_the_highest_role() {
        let mapping: RoleMapping = serde_json::from_value(serde_json::json!({
            "app_roles": {"Locker.User": "locker_user", "Locker.Helpdesk": "helpdesk"},
            "groups": {"0a1b": "facility_manager"}
        }))
        .unwrap();
        let roles = vec!["Locker.User".to_string(), "Locker.Helpdesk".to_string()];
        assert_eq!(mapping.role_of(&roles, &[]), Some(Role::Helpdesk));
        assert_eq!(
            mapping.role_of(&roles, &["0a1b".to_string()]),
            Some(Role::FacilityManager)
        );
        assert_eq!(mapping.role_of(&["Other".to_string()], &[]), None);
    }
}
