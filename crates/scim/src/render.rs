//! Rendering stored documents as SCIM resources, and `attributes` /
//! `excludedAttributes` projection (RFC 7644 §3.4.2.5).

use serde_json::{Map, Value, json};

use crate::error::ScimError;
use crate::filter::resolve_attr;
use crate::schema::{
    AttrDef, ENTERPRISE_USER_ATTRIBUTES, ENTERPRISE_USER_URN, LIST_RESPONSE_URN, ResourceKind,
    Returned, SchemaRef, split_attribute_urn,
};

/// Server-maintained metadata of a resource (RFC 7643 §3.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meta {
    /// RFC 3339 UTC timestamps as stored.
    pub created: String,
    pub last_modified: String,
    /// Incremented on every change; rendered as a weak ETag `W/"<n>"`.
    pub version: i64,
    /// Absolute URI of the resource.
    pub location: String,
}

/// One element of a Group's `members` or a User's `groups` attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedMember {
    /// The Lockgate id of the member, or of the group for `groups`.
    pub value: String,
    /// The member's `displayName`, when it has one.
    pub display: Option<String>,
    /// `User` or `Group`: the resource type of the member.
    pub kind: String,
    /// Absolute URI of the member resource, rendered as `$ref`.
    pub location: String,
}

/// Keys the server writes itself. A stored document never contains them, and
/// `render` skips them if one does, so the stored copy cannot override them.
const SERVER_KEYS: [&str; 5] = ["schemas", "id", "meta", "members", "groups"];

/// Builds the full SCIM resource from a stored document (the format
/// described in `resource.rs`).
///
/// The output contains, in order: `schemas` from the document, `id`, the
/// document's attributes, `members` (when `members` is `Some`), `groups`
/// (when `groups` is `Some`) and `meta`. An empty member or group list is
/// omitted, which RFC 7643 §2.5 makes equivalent to an empty array. The
/// caller passes `members` only for groups and `groups` only for users.
///
/// The enterprise `manager` is always rendered as an object
/// `{"value": "<id>", "$ref": "<uri>"}`, because SCIM vendors report that
/// Entra fails to deserialize a resource whose `manager` is a bare string.
pub fn render(
    kind: ResourceKind,
    id: &str,
    document: &Value,
    meta: &Meta,
    members: Option<&[RenderedMember]>,
    groups: Option<&[RenderedMember]>,
) -> Value {
    let mut out = Map::new();
    let schemas = document
        .get("schemas")
        .filter(|s| s.as_array().is_some_and(|a| !a.is_empty()))
        .cloned()
        .unwrap_or_else(|| json!([kind.core_schema().id]));
    out.insert("schemas".into(), schemas);
    out.insert("id".into(), Value::String(id.to_string()));

    if let Some(attributes) = document.as_object() {
        for (key, value) in attributes {
            if SERVER_KEYS.iter().any(|k| k.eq_ignore_ascii_case(key)) {
                continue;
            }
            let value =
                if kind == ResourceKind::User && key.eq_ignore_ascii_case(ENTERPRISE_USER_URN) {
                    render_enterprise(value, id, &meta.location)
                } else {
                    value.clone()
                };
            out.insert(key.clone(), value);
        }
    }

    if let Some(members) = members.filter(|m| !m.is_empty()) {
        let rendered = members.iter().map(|m| render_member(m, &m.kind)).collect();
        out.insert("members".into(), Value::Array(rendered));
    }
    if let Some(groups) = groups.filter(|g| !g.is_empty()) {
        // Lockgate stores direct memberships only (RFC 7643 §4.1.2 `type`).
        let rendered = groups.iter().map(|g| render_member(g, "direct")).collect();
        out.insert("groups".into(), Value::Array(rendered));
    }

    out.insert(
        "meta".into(),
        json!({
            "resourceType": kind.as_str(),
            "created": meta.created,
            "lastModified": meta.last_modified,
            "location": meta.location,
            "version": format!("W/\"{}\"", meta.version),
        }),
    );
    Value::Object(out)
}

fn render_member(member: &RenderedMember, kind: &str) -> Value {
    let mut out = Map::new();
    out.insert("value".into(), Value::String(member.value.clone()));
    if let Some(display) = &member.display {
        out.insert("display".into(), Value::String(display.clone()));
    }
    out.insert("type".into(), Value::String(kind.to_string()));
    out.insert("$ref".into(), Value::String(member.location.clone()));
    Value::Object(out)
}

/// Renders the enterprise extension object with `manager` as an object.
/// A manager without an id is dropped, because `{}` would read back as a
/// manager with no target.
fn render_enterprise(extension: &Value, user_id: &str, user_location: &str) -> Value {
    let Some(attributes) = extension.as_object() else {
        return extension.clone();
    };
    let mut out = Map::new();
    for (key, value) in attributes {
        if !key.eq_ignore_ascii_case("manager") {
            out.insert(key.clone(), value.clone());
            continue;
        }
        let manager_id = match value {
            Value::String(s) => Some(s.as_str()),
            Value::Object(o) => o.get("value").and_then(Value::as_str),
            _ => None,
        };
        let Some(manager_id) = manager_id.filter(|m| !m.is_empty()) else {
            continue;
        };
        let mut manager = Map::new();
        manager.insert("value".into(), Value::String(manager_id.to_string()));
        if let Some(location) = sibling_location(user_location, user_id, manager_id) {
            manager.insert("$ref".into(), Value::String(location));
        }
        out.insert("manager".into(), Value::Object(manager));
    }
    Value::Object(out)
}

/// Derives the URI of another resource of the same type from `location`,
/// which ends in `/<id>`. Returns `None` for any other shape.
fn sibling_location(location: &str, id: &str, other_id: &str) -> Option<String> {
    let collection = location.strip_suffix(id)?.strip_suffix('/')?;
    Some(format!("{collection}/{other_id}"))
}

/// Builds a list response (RFC 7644 §3.4.2). `itemsPerPage` is the number of
/// resources in this page. An empty page is still a valid response with
/// `"Resources": []`, which Entra requires for a query that matches nothing.
pub fn list_response(resources: Vec<Value>, total: u64, start_index: u64) -> Value {
    json!({
        "schemas": [LIST_RESPONSE_URN],
        "totalResults": total,
        "itemsPerPage": resources.len(),
        "startIndex": start_index,
        "Resources": resources,
    })
}

/// The attribute selection of a request, from the `attributes` or
/// `excludedAttributes` query parameter (RFC 7644 §3.4.2.5).
///
/// The default value returns every attribute, as when neither parameter is
/// sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Projection {
    mode: Mode,
    paths: Vec<AttrPath>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Mode {
    #[default]
    All,
    /// Only the listed attributes, plus those with `returned: always`.
    Include,
    /// Every attribute except the listed ones, but `returned: always` stays.
    Exclude,
}

/// One resolved entry of the parameter, with names in schema spelling.
#[derive(Debug, Clone, PartialEq, Eq)]
struct AttrPath {
    schema: SchemaRef,
    /// `None` selects a whole extension, as in
    /// `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User`.
    name: Option<String>,
    sub: Option<String>,
}

impl Projection {
    /// Parses the `attributes` and `excludedAttributes` query parameters.
    ///
    /// Each is a comma-separated list of attribute names in the notation of
    /// RFC 7644 §3.10: case-insensitive, optionally URN-qualified, with an
    /// optional sub-attribute (`name.givenName`, `emails.value`). A bare
    /// extension URN selects the whole extension. Empty entries are skipped,
    /// and a parameter with no entries counts as absent.
    ///
    /// Errors are 400 `invalidSyntax` when both parameters are given, because
    /// RFC 7644 §3.4.2.5 defines them as alternatives, and 400 `invalidValue`
    /// naming every attribute that is not in the schema.
    pub fn parse(
        kind: ResourceKind,
        attributes: Option<&str>,
        excluded: Option<&str>,
    ) -> Result<Projection, ScimError> {
        let has_entries = |list: &&str| list.split(',').any(|e| !e.trim().is_empty());
        let attributes = attributes.filter(has_entries);
        let excluded = excluded.filter(has_entries);
        match (attributes, excluded) {
            (Some(_), Some(_)) => Err(ScimError::invalid_syntax(
                "attributes and excludedAttributes are alternatives (RFC 7644 §3.4.2.5), \
                 so send only one of them",
            )),
            (Some(list), None) => Ok(Projection {
                mode: Mode::Include,
                paths: parse_list(kind, "attributes", list)?,
            }),
            (None, Some(list)) => Ok(Projection {
                mode: Mode::Exclude,
                paths: parse_list(kind, "excludedAttributes", list)?,
            }),
            (None, None) => Ok(Projection::default()),
        }
    }

    /// Returns whether the response contains any part of the top-level core
    /// attribute `attr`, such as `members` or `groups`, so the store can skip
    /// loading member rows that the response would drop.
    pub fn wants(&self, attr: &str) -> bool {
        if is_always_returned(attr) {
            return true;
        }
        let named = |p: &&AttrPath| {
            p.schema == SchemaRef::Core
                && p.name
                    .as_deref()
                    .is_some_and(|n| n.eq_ignore_ascii_case(attr))
        };
        match self.mode {
            Mode::All => true,
            Mode::Include => self.paths.iter().any(|p| named(&p)),
            Mode::Exclude => !self.paths.iter().filter(named).any(|p| p.sub.is_none()),
        }
    }

    /// Removes the attributes the request did not select from a rendered
    /// resource. Attributes defined with `returned: always` (`id`), and
    /// `schemas`, are kept in every mode. A complex attribute or
    /// extension object left with no sub-attributes is removed.
    pub fn apply(&self, kind: ResourceKind, resource: Value) -> Value {
        if self.mode == Mode::All {
            return resource;
        }
        let Value::Object(attributes) = resource else {
            return resource;
        };
        let mut out = Map::new();
        for (key, value) in attributes {
            if key.eq_ignore_ascii_case("schemas") {
                out.insert(key, value);
                continue;
            }
            let projected = match extension_schema(kind, &key) {
                Some(schema) => self.project_extension(&schema, value),
                None => {
                    let def = kind.core_attribute(&key);
                    self.project_attribute(&SchemaRef::Core, &key, def, value)
                }
            };
            if let Some(value) = projected {
                out.insert(key, value);
            }
        }
        Value::Object(out)
    }

    fn project_extension(&self, schema: &SchemaRef, value: Value) -> Option<Value> {
        let whole = self
            .paths
            .iter()
            .any(|p| same_schema(&p.schema, schema) && p.name.is_none());
        match (self.mode, whole) {
            (Mode::Include, true) => return Some(value),
            (Mode::Exclude, true) => return None,
            _ => {}
        }
        let Value::Object(attributes) = value else {
            return (self.mode != Mode::Include).then_some(value);
        };
        let mut out = Map::new();
        for (key, value) in attributes {
            let def = match schema {
                SchemaRef::Enterprise => ENTERPRISE_USER_ATTRIBUTES
                    .iter()
                    .find(|a| a.name.eq_ignore_ascii_case(&key)),
                _ => None,
            };
            if let Some(value) = self.project_attribute(schema, &key, def, value) {
                out.insert(key, value);
            }
        }
        (!out.is_empty()).then_some(Value::Object(out))
    }

    fn project_attribute(
        &self,
        schema: &SchemaRef,
        name: &str,
        def: Option<&AttrDef>,
        value: Value,
    ) -> Option<Value> {
        if def.is_some_and(|d| d.returned == Returned::Always) {
            return Some(value);
        }
        let matching: Vec<&AttrPath> = self
            .paths
            .iter()
            .filter(|p| {
                same_schema(&p.schema, schema)
                    && p.name
                        .as_deref()
                        .is_some_and(|n| n.eq_ignore_ascii_case(name))
            })
            .collect();
        let whole = matching.iter().any(|p| p.sub.is_none());
        let subs: Vec<&str> = matching.iter().filter_map(|p| p.sub.as_deref()).collect();
        let include = self.mode == Mode::Include;
        match (include, whole, subs.is_empty()) {
            (true, true, _) => Some(value),
            (true, false, true) => None,
            (false, true, _) => None,
            (false, false, true) => Some(value),
            (_, false, false) => project_sub_attributes(value, def, &subs, include),
        }
    }
}

/// Keeps (`include`) or removes the listed sub-attributes of a complex value
/// or of each element of a multi-valued one. Elements left empty are removed,
/// and so is the attribute when nothing is left.
fn project_sub_attributes(
    value: Value,
    def: Option<&AttrDef>,
    subs: &[&str],
    include: bool,
) -> Option<Value> {
    let project_object = |object: Map<String, Value>| -> Option<Value> {
        let kept: Map<String, Value> = object
            .into_iter()
            .filter(|(key, _)| {
                let always = def
                    .and_then(|d| d.sub_attribute(key))
                    .is_some_and(|s| s.returned == Returned::Always);
                let listed = subs.iter().any(|s| s.eq_ignore_ascii_case(key));
                always || listed == include
            })
            .collect();
        (!kept.is_empty()).then_some(Value::Object(kept))
    };
    match value {
        Value::Object(object) => project_object(object),
        Value::Array(elements) => {
            let kept: Vec<Value> = elements
                .into_iter()
                .filter_map(|element| match element {
                    Value::Object(object) => project_object(object),
                    other => (!include).then_some(other),
                })
                .collect();
            (!kept.is_empty()).then_some(Value::Array(kept))
        }
        other => (!include).then_some(other),
    }
}

fn parse_list(kind: ResourceKind, param: &str, list: &str) -> Result<Vec<AttrPath>, ScimError> {
    let mut paths = Vec::new();
    let mut errors = Vec::new();
    for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        match parse_entry(kind, entry) {
            Ok(Some(path)) => paths.push(path),
            Ok(None) => {}
            Err(message) => errors.push(message),
        }
    }
    if errors.is_empty() {
        Ok(paths)
    } else {
        Err(ScimError::invalid_value(format!(
            "invalid {param}: {}",
            errors.join("; ")
        )))
    }
}

/// Resolves one entry of the parameter. `Ok(None)` is `schemas`, which is
/// always returned and so needs no entry.
fn parse_entry(kind: ResourceKind, entry: &str) -> Result<Option<AttrPath>, String> {
    if entry.eq_ignore_ascii_case("schemas") {
        return Ok(None);
    }
    if entry.eq_ignore_ascii_case(kind.core_schema().id) {
        return Err(format!(
            "\"{entry}\" is the core schema URN, not an attribute; name its attributes, \
             such as {}",
            kind.core_schema().attributes[0].name
        ));
    }
    if let Some(schema) = extension_schema(kind, entry) {
        return Ok(Some(AttrPath {
            schema,
            name: None,
            sub: None,
        }));
    }
    let (urn, path) = match split_attribute_urn(kind, entry) {
        Some((schema, path)) => (Some(schema.urn(kind).to_string()), path),
        // An unsupported URN goes to `resolve_attr`, whose message names it.
        None => match entry.rsplit_once(':') {
            Some((urn, path)) => (Some(urn.to_string()), path.to_string()),
            None => (None, entry.to_string()),
        },
    };
    let (name, sub) = match path.split_once('.') {
        Some((name, sub)) => (name, Some(sub)),
        None => (path.as_str(), None),
    };
    let attr = resolve_attr(kind, urn.as_deref(), name, sub)?;
    Ok(Some(AttrPath {
        schema: attr.schema,
        name: Some(attr.name),
        sub: attr.sub,
    }))
}

/// Returns the schema of `key` when it is the URN of an extension that
/// `kind` accepts: the enterprise extension or a custom User extension.
fn extension_schema(kind: ResourceKind, key: &str) -> Option<SchemaRef> {
    if !key.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("urn:")) {
        return None;
    }
    match SchemaRef::from_urn(kind, Some(key)) {
        Ok(SchemaRef::Core) | Err(_) => None,
        Ok(schema) => Some(schema),
    }
}

/// Compares schemas ignoring the letter case of custom URNs, which are kept
/// as first received in stored documents.
fn same_schema(a: &SchemaRef, b: &SchemaRef) -> bool {
    match (a, b) {
        (SchemaRef::Custom(a), SchemaRef::Custom(b)) => a.eq_ignore_ascii_case(b),
        _ => a == b,
    }
}

/// `schemas` and the attributes both resource types define with
/// `returned: always` (RFC 7643 §7), which is `id`.
fn is_always_returned(attr: &str) -> bool {
    attr.eq_ignore_ascii_case("schemas")
        || [ResourceKind::User, ResourceKind::Group]
            .into_iter()
            .filter_map(|kind| kind.core_attribute(attr))
            .any(|def| def.returned == Returned::Always)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ScimType;
    use crate::schema::{GROUP_URN, USER_URN};

    const BASE: &str = "https://lockers.example/scim/v2";
    const LOCKGATE_EXT: &str = "urn:ietf:params:scim:schemas:extension:lockgate:2.0:User";

    fn meta(kind: ResourceKind, id: &str) -> Meta {
        Meta {
            created: "2026-03-01T08:00:00Z".into(),
            last_modified: "2026-03-02T09:30:00Z".into(),
            version: 3,
            location: format!("{BASE}/{}/{id}", kind.endpoint()),
        }
    }

    fn user_document() -> Value {
        json!({
            "schemas": [USER_URN, ENTERPRISE_USER_URN, LOCKGATE_EXT],
            "externalId": "a3c1f0e2",
            "userName": "mira.okafor@lockers.example",
            "name": {"givenName": "Mira", "familyName": "Okafor"},
            "active": true,
            "emails": [
                {"value": "mira.okafor@lockers.example", "type": "work", "primary": true},
                {"value": "mira@home.example", "type": "home"}
            ],
            ENTERPRISE_USER_URN: {
                "department": "Depot North",
                "manager": {"value": "u-9b0e"}
            },
            LOCKGATE_EXT: {"badgeNumber": "0A1B"}
        })
    }

    fn user() -> Value {
        render(
            ResourceKind::User,
            "u-7d1e",
            &user_document(),
            &meta(ResourceKind::User, "u-7d1e"),
            None,
            Some(&[RenderedMember {
                value: "g-bankb".into(),
                display: Some("Bank B Night Shift".into()),
                kind: "Group".into(),
                location: format!("{BASE}/Groups/g-bankb"),
            }]),
        )
    }

    fn group() -> Value {
        render(
            ResourceKind::Group,
            "g-bankb",
            &json!({"schemas": [GROUP_URN], "displayName": "Bank B Night Shift"}),
            &meta(ResourceKind::Group, "g-bankb"),
            Some(&[
                RenderedMember {
                    value: "u-7d1e".into(),
                    display: Some("Mira Okafor".into()),
                    kind: "User".into(),
                    location: format!("{BASE}/Users/u-7d1e"),
                },
                RenderedMember {
                    value: "g-depot".into(),
                    display: None,
                    kind: "Group".into(),
                    location: format!("{BASE}/Groups/g-depot"),
                },
            ]),
            None,
        )
    }

    fn keys(value: &Value) -> Vec<&str> {
        value
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect()
    }

    fn projection(attributes: Option<&str>, excluded: Option<&str>) -> Projection {
        Projection::parse(ResourceKind::User, attributes, excluded).unwrap()
    }

    #[test]
    fn render_orders_keys() {
        let user = user();
        assert_eq!(
            keys(&user),
            [
                "schemas",
                "id",
                "externalId",
                "userName",
                "name",
                "active",
                "emails",
                ENTERPRISE_USER_URN,
                LOCKGATE_EXT,
                "groups",
                "meta"
            ]
        );
        assert_eq!(user["id"], "u-7d1e");
        assert_eq!(user["schemas"][1], ENTERPRISE_USER_URN);
    }

    #[test]
    fn render_meta_has_weak_version() {
        let user = user();
        assert_eq!(
            user["meta"],
            json!({
                "resourceType": "User",
                "created": "2026-03-01T08:00:00Z",
                "lastModified": "2026-03-02T09:30:00Z",
                "location": format!("{BASE}/Users/u-7d1e"),
                "version": "W/\"3\"",
            })
        );
    }

    #[test]
    fn render_manager_as_object_with_ref() {
        let user = user();
        assert_eq!(
            user[ENTERPRISE_USER_URN]["manager"],
            json!({"value": "u-9b0e", "$ref": format!("{BASE}/Users/u-9b0e")})
        );
        assert_eq!(user[ENTERPRISE_USER_URN]["department"], "Depot North");
    }

    #[test]
    fn render_manager_string_becomes_object() {
        let document = json!({
            "schemas": [USER_URN, ENTERPRISE_USER_URN],
            "userName": "ivo",
            ENTERPRISE_USER_URN: {"manager": "u-9b0e"}
        });
        let user = render(
            ResourceKind::User,
            "u-1",
            &document,
            &meta(ResourceKind::User, "u-1"),
            None,
            None,
        );
        assert_eq!(user[ENTERPRISE_USER_URN]["manager"]["value"], "u-9b0e");
    }

    #[test]
    fn render_manager_without_id_dropped() {
        let document = json!({
            "schemas": [USER_URN, ENTERPRISE_USER_URN],
            ENTERPRISE_USER_URN: {"manager": {"value": ""}, "department": "Depot"}
        });
        let mut meta = meta(ResourceKind::User, "u-1");
        meta.location = "not-a-matching-location".into();
        let user = render(ResourceKind::User, "u-1", &document, &meta, None, None);
        assert_eq!(user[ENTERPRISE_USER_URN], json!({"department": "Depot"}));
    }

    #[test]
    fn render_groups_are_direct() {
        let user = user();
        assert_eq!(
            user["groups"],
            json!([{
                "value": "g-bankb",
                "display": "Bank B Night Shift",
                "type": "direct",
                "$ref": format!("{BASE}/Groups/g-bankb"),
            }])
        );
    }

    #[test]
    fn render_members_with_type_and_ref() {
        let group = group();
        assert_eq!(
            keys(&group),
            ["schemas", "id", "displayName", "members", "meta"]
        );
        assert_eq!(
            group["members"][0],
            json!({
                "value": "u-7d1e",
                "display": "Mira Okafor",
                "type": "User",
                "$ref": format!("{BASE}/Users/u-7d1e"),
            })
        );
        assert!(group["members"][1].get("display").is_none());
        assert_eq!(group["members"][1]["type"], "Group");
        assert_eq!(group["meta"]["resourceType"], "Group");
    }

    #[test]
    fn render_omits_empty_member_list() {
        let group = render(
            ResourceKind::Group,
            "g-1",
            &json!({"schemas": [GROUP_URN], "displayName": "Empty"}),
            &meta(ResourceKind::Group, "g-1"),
            Some(&[]),
            None,
        );
        assert!(group.get("members").is_none());
    }

    #[test]
    fn render_ignores_server_keys_in_document() {
        let document = json!({
            "schemas": [GROUP_URN],
            "id": "stale",
            "meta": {"resourceType": "Stale"},
            "members": [{"value": "stale"}],
            "displayName": "Night"
        });
        let group = render(
            ResourceKind::Group,
            "g-1",
            &document,
            &meta(ResourceKind::Group, "g-1"),
            None,
            None,
        );
        assert_eq!(group["id"], "g-1");
        assert_eq!(group["meta"]["resourceType"], "Group");
        assert!(group.get("members").is_none());
    }

    #[test]
    fn render_defaults_missing_schemas() {
        let group = render(
            ResourceKind::Group,
            "g-1",
            &json!({"displayName": "Night"}),
            &meta(ResourceKind::Group, "g-1"),
            None,
            None,
        );
        assert_eq!(group["schemas"], json!([GROUP_URN]));
    }

    #[test]
    fn list_response_with_results() {
        let list = list_response(vec![user(), user()], 7, 3);
        assert_eq!(list["schemas"], json!([LIST_RESPONSE_URN]));
        assert_eq!(list["totalResults"], 7);
        assert_eq!(list["itemsPerPage"], 2);
        assert_eq!(list["startIndex"], 3);
        assert_eq!(list["Resources"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn list_response_empty() {
        let list = list_response(Vec::new(), 0, 1);
        assert_eq!(
            list,
            json!({
                "schemas": [LIST_RESPONSE_URN],
                "totalResults": 0,
                "itemsPerPage": 0,
                "startIndex": 1,
                "Resources": [],
            })
        );
    }

    #[test]
    fn projection_default_keeps_everything() {
        let p = projection(None, None);
        assert_eq!(p, Projection::default());
        assert_eq!(p.apply(ResourceKind::User, user()), user());
        assert!(p.wants("groups"));
    }

    #[test]
    fn projection_empty_parameter_counts_as_absent() {
        assert_eq!(projection(Some(" , "), None), Projection::default());
        assert_eq!(
            projection(Some(""), Some("groups")),
            projection(None, Some("groups"))
        );
    }

    #[test]
    fn exclude_members_drops_members() {
        let p = Projection::parse(ResourceKind::Group, None, Some("members")).unwrap();
        assert!(!p.wants("members"));
        assert!(p.wants("displayName"));
        let group = p.apply(ResourceKind::Group, group());
        assert_eq!(keys(&group), ["schemas", "id", "displayName", "meta"]);
    }

    #[test]
    fn include_keeps_always_returned() {
        let p = projection(Some("userName"), None);
        let user = p.apply(ResourceKind::User, user());
        assert_eq!(
            user,
            json!({
                "schemas": [USER_URN, ENTERPRISE_USER_URN, LOCKGATE_EXT],
                "id": "u-7d1e",
                "userName": "mira.okafor@lockers.example",
            })
        );
        assert!(p.wants("id"));
        assert!(p.wants("userName"));
        assert!(!p.wants("groups"));
    }

    #[test]
    fn include_ignores_case() {
        let p = projection(Some("USERNAME, Meta"), None);
        let user = p.apply(ResourceKind::User, user());
        assert_eq!(keys(&user), ["schemas", "id", "userName", "meta"]);
    }

    #[test]
    fn include_sub_attributes() {
        let p = projection(Some("name.givenName,emails.value"), None);
        let user = p.apply(ResourceKind::User, user());
        assert_eq!(user["name"], json!({"givenName": "Mira"}));
        assert_eq!(
            user["emails"],
            json!([
                {"value": "mira.okafor@lockers.example"},
                {"value": "mira@home.example"}
            ])
        );
        assert!(p.wants("name"));
        assert!(p.wants("emails"));
    }

    #[test]
    fn include_whole_attribute_beats_sub_attribute() {
        let p = projection(Some("name.givenName,name"), None);
        let user = p.apply(ResourceKind::User, user());
        assert_eq!(
            user["name"],
            json!({"givenName": "Mira", "familyName": "Okafor"})
        );
    }

    #[test]
    fn include_qualified_core_attribute() {
        let p = projection(
            Some("urn:ietf:params:scim:schemas:core:2.0:User:name.familyName"),
            None,
        );
        let user = p.apply(ResourceKind::User, user());
        assert_eq!(user["name"], json!({"familyName": "Okafor"}));
    }

    #[test]
    fn include_enterprise_attribute() {
        let p = projection(
            Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"),
            None,
        );
        let user = p.apply(ResourceKind::User, user());
        assert_eq!(
            user[ENTERPRISE_USER_URN],
            json!({"department": "Depot North"})
        );
        assert!(user.get(LOCKGATE_EXT).is_none());
        assert!(user.get("userName").is_none());
    }

    #[test]
    fn include_whole_extension() {
        let p = projection(Some(ENTERPRISE_USER_URN), None);
        let user = p.apply(ResourceKind::User, user());
        assert_eq!(keys(&user), ["schemas", "id", ENTERPRISE_USER_URN]);
        assert_eq!(user[ENTERPRISE_USER_URN]["manager"]["value"], "u-9b0e");
    }

    #[test]
    fn include_custom_extension_ignores_case() {
        let p = projection(
            Some("URN:IETF:PARAMS:SCIM:SCHEMAS:EXTENSION:LOCKGATE:2.0:USER:badgenumber"),
            None,
        );
        let user = p.apply(ResourceKind::User, user());
        assert_eq!(user[LOCKGATE_EXT], json!({"badgeNumber": "0A1B"}));
    }

    #[test]
    fn exclude_sub_attributes() {
        let p = projection(None, Some("emails.type, name.givenName, name.familyName"));
        let user = p.apply(ResourceKind::User, user());
        assert!(user.get("name").is_none(), "name has nothing left");
        assert_eq!(
            user["emails"],
            json!([
                {"value": "mira.okafor@lockers.example", "primary": true},
                {"value": "mira@home.example"}
            ])
        );
        assert!(p.wants("name"), "only sub-attributes were excluded");
    }

    #[test]
    fn exclude_enterprise_manager() {
        let p = projection(
            None,
            Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager"),
        );
        let user = p.apply(ResourceKind::User, user());
        assert_eq!(
            user[ENTERPRISE_USER_URN],
            json!({"department": "Depot North"})
        );
        assert_eq!(user["userName"], "mira.okafor@lockers.example");
    }

    #[test]
    fn exclude_whole_extension_and_meta() {
        let p = projection(None, Some(&format!("{ENTERPRISE_USER_URN},meta,groups")));
        let user = p.apply(ResourceKind::User, user());
        assert!(user.get(ENTERPRISE_USER_URN).is_none());
        assert!(user.get("meta").is_none());
        assert!(user.get("groups").is_none());
        assert!(user.get(LOCKGATE_EXT).is_some());
        assert!(!p.wants("groups"));
    }

    #[test]
    fn exclude_cannot_remove_id() {
        let p = projection(None, Some("id,schemas,userName"));
        let user = p.apply(ResourceKind::User, user());
        assert_eq!(user["id"], "u-7d1e");
        assert!(user.get("schemas").is_some());
        assert!(user.get("userName").is_none());
        assert!(p.wants("id"));
    }

    #[test]
    fn both_parameters_invalid_syntax() {
        let err =
            Projection::parse(ResourceKind::User, Some("userName"), Some("emails")).unwrap_err();
        assert_eq!(err.status, 400);
        assert_eq!(err.scim_type, Some(ScimType::InvalidSyntax));
    }

    #[test]
    fn unknown_attributes_invalid_value() {
        let err = Projection::parse(
            ResourceKind::User,
            Some("userName,shoeSize,name.nickname"),
            None,
        )
        .unwrap_err();
        assert_eq!(err.status, 400);
        assert_eq!(err.scim_type, Some(ScimType::InvalidValue));
        assert!(err.detail.contains("shoeSize"), "{}", err.detail);
        assert!(err.detail.contains("nickname"), "{}", err.detail);
        assert!(
            err.detail.starts_with("invalid attributes:"),
            "{}",
            err.detail
        );
    }

    #[test]
    fn unknown_schema_urn_invalid_value() {
        let err = Projection::parse(ResourceKind::Group, None, Some("urn:example:thing:color"))
            .unwrap_err();
        assert_eq!(err.scim_type, Some(ScimType::InvalidValue));
        assert!(err.detail.contains("urn:example:thing"), "{}", err.detail);

        let err = Projection::parse(ResourceKind::Group, None, Some("groups")).unwrap_err();
        assert!(err.detail.contains("groups"), "{}", err.detail);

        let err = Projection::parse(ResourceKind::User, Some(USER_URN), None).unwrap_err();
        assert_eq!(err.scim_type, Some(ScimType::InvalidValue));
        assert!(err.detail.contains("core schema URN"), "{}", err.detail);
    }
}
