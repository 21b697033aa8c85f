//! What the access index takes from a SCIM user document: attributes for
//! policy conditions, app roles, the manager and the badge number.

use std::collections::BTreeMap;

use serde_json::Value;

const ENTERPRISE_URN: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// The parts of a user document that access rules look at.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct UserFacts {
    /// String attributes by name. Extension attributes appear under their
    /// full URN (`urn:...:User:department`) and, when no core attribute has
    /// that name, under the short name too, so a policy can say
    /// `department` for Entra's enterprise `department`.
    pub attributes: BTreeMap<String, String>,
    /// The `value` of each `roles` element: Entra sends app role
    /// assignments there.
    pub app_roles: Vec<String>,
    /// The manager's Lockgate user id, from the enterprise extension.
    pub manager: Option<String>,
}

pub(crate) fn facts(document: &Value) -> UserFacts {
    let mut facts = UserFacts::default();
    let Some(object) = document.as_object() else {
        return facts;
    };
    let mut extension_values: Vec<(String, String, String)> = Vec::new();
    for (key, value) in object {
        match value {
            Value::String(text) if key.starts_with("urn:") => {
                // A flattened extension attribute, `urn:...:User:attr`.
                if let Some((_, short)) = key.rsplit_once(':') {
                    extension_values.push((key.clone(), short.to_string(), text.clone()));
                }
            }
            Value::String(text) => {
                facts.attributes.insert(key.clone(), text.clone());
            }
            Value::Object(extension) if key.starts_with("urn:") => {
                for (name, value) in extension {
                    if let Some(text) = scalar_text(value) {
                        extension_values.push((format!("{key}:{name}"), name.clone(), text));
                    }
                }
                if key == ENTERPRISE_URN {
                    facts.manager = extension
                        .get("manager")
                        .and_then(|m| m.get("value").or(Some(m)))
                        .and_then(Value::as_str)
                        .filter(|id| !id.is_empty())
                        .map(str::to_string);
                }
            }
            Value::Array(items) if key == "roles" => {
                facts.app_roles = items
                    .iter()
                    .filter_map(|item| item.get("value").and_then(Value::as_str))
                    .map(str::to_string)
                    .collect();
            }
            _ => {}
        }
    }
    for (full, short, text) in extension_values {
        facts
            .attributes
            .entry(short)
            .or_insert_with(|| text.clone());
        facts.attributes.insert(full, text);
    }
    facts
}

fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_core_enterprise_and_custom_attributes() {
        let document = json!({
            "userName": "ada@example.org",
            "title": "Nurse",
            "roles": [{"value": "WardNurse", "primary": "True"}],
            ENTERPRISE_URN: {"department": "Cardiology", "employeeNumber": 4711,
                             "manager": {"value": "mgr-1"}},
            "urn:ietf:params:scim:schemas:extension:lockgate:2.0:User": {"badge": "04A1B2"}
        });
        let facts = facts(&document);
        assert_eq!(facts.attributes["title"], "Nurse");
        assert_eq!(facts.attributes["department"], "Cardiology");
        assert_eq!(
            facts.attributes[&format!("{ENTERPRISE_URN}:department")],
            "Cardiology"
        );
        assert_eq!(facts.attributes["employeeNumber"], "4711");
        assert_eq!(facts.attributes["badge"], "04A1B2");
        assert_eq!(facts.app_roles, ["WardNurse"]);
        assert_eq!(facts.manager.as_deref(), Some("mgr-1"));
    }

    #[test]
    fn core_attribute_wins_the_short_name() {
        let document = json!({
            "title": "core",
            "urn:ietf:params:scim:schemas:extension:acme:2.0:User": {"title": "extension"}
        });
        let facts = facts(&document);
        assert_eq!(facts.attributes["title"], "core");
        assert_eq!(
            facts.attributes["urn:ietf:params:scim:schemas:extension:acme:2.0:User:title"],
            "extension"
        );
    }
}
