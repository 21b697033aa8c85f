//! Normalisation of POST and PUT bodies into the stored document.
//!
//! The stored document is a JSON object holding:
//! - `schemas`: the core URN first, then the URN of each extension present;
//! - every writable core attribute under its schema spelling (`userName`,
//!   `name`, `emails`, ...), never `id`, `meta`, `groups` or `members`;
//! - `externalId` when sent;
//! - each extension's attributes as an object under its URN
//!   (`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User`, custom URNs
//!   as first received), with `manager` always `{"value": "<id>"}`.
//!
//! Group members are stored as rows apart from the document.
//!
//! Empty values (null, `""`, `[]`, `{}`) are never stored. RFC 7643 §2.5
//! treats null and `[]` as unassigned, and Entra clears an attribute by
//! sending `""`, so all of them mean "absent".

use serde_json::{Map, Value, json};

use crate::error::ScimError;
use crate::filter::{AttrRef, resolve_attr};
use crate::schema::{
    AttrDef, AttrType, CUSTOM_ATTRIBUTE, ENTERPRISE_USER_ATTRIBUTES, ENTERPRISE_USER_URN,
    GROUP_ATTRIBUTES, ResourceKind, SchemaRef, split_attribute_urn,
};

/// A member reference from a Group body or PATCH value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRef {
    /// The member's Lockgate id.
    pub value: String,
    /// `User` or `Group` when the client said which.
    pub kind: Option<String>,
}

/// A normalised resource body.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    pub value: Value,
    /// Group members from the body; `None` when the body has no `members`.
    pub members: Option<Vec<MemberRef>>,
}

/// Sub-attributes that label an element of a multi-valued attribute instead
/// of carrying its data. An element left with only these is dropped.
const LABEL_SUB_ATTRIBUTES: [&str; 3] = ["type", "primary", "display"];

/// Converts a POST or PUT body into the stored document.
///
/// Attribute names match case-insensitively (RFC 7643 §2.1) and are stored
/// in their schema spelling. `id`, `meta` and other readOnly attributes are
/// ignored (RFC 7644 §3.5.1). Errors are 400 with `invalidSyntax` when the
/// body is not an object and `invalidValue` for anything the schema rejects.
pub fn normalize(kind: ResourceKind, body: Value) -> Result<Document, ScimError> {
    let Value::Object(body) = body else {
        return Err(ScimError::invalid_syntax(format!(
            "the {} body must be a JSON object, not {}",
            kind.as_str(),
            json_type(&body)
        )));
    };
    require_core_schema(kind, &body)?;

    let mut document = Map::new();
    let mut members = None;
    for (key, value) in body {
        match classify_key(kind, &key)? {
            BodyKey::Skip => {}
            BodyKey::Members => members = Some(parse_members(value)?),
            BodyKey::Attribute(attr) => store_attribute(kind, &mut document, &attr, value)?,
            BodyKey::Extension(schema) => {
                store_extension(kind, &mut document, &key, &schema, value)?;
            }
            BodyKey::Unknown => reject_unknown(kind, &key, &value)?,
        }
    }

    // RFC 7643 §4.1.1 defines no default for `active`. Lockgate treats a user
    // created without it as active, so that the user can open lockers.
    if kind == ResourceKind::User && !document.contains_key("active") {
        document.insert("active".to_string(), Value::Bool(true));
    }

    let value = Value::Object(finish_document(kind, document));
    validate(kind, &value)?;
    Ok(Document { value, members })
}

/// Checks that `document` is a well-formed stored document: `schemas`
/// matches the extensions present, every attribute is known and has its
/// schema type, and required attributes are non-empty strings.
///
/// PATCH runs this on its result, so an error here is a 400 `invalidValue`
/// for the request that produced the document.
pub fn validate(kind: ResourceKind, document: &Value) -> Result<(), ScimError> {
    let Some(map) = document.as_object() else {
        return Err(ScimError::invalid_value(format!(
            "a {} document must be a JSON object, not {}",
            kind.as_str(),
            json_type(document)
        )));
    };
    check_schemas_list(kind, map)?;
    for (key, value) in map {
        if key != "schemas" {
            check_stored_entry(kind, key, value)?;
        }
    }
    check_required(kind, map)
}

// ---------------------------------------------------------------------------
// Body keys

/// The target of a top-level key of a POST or PUT body.
enum BodyKey {
    /// `schemas`, or an attribute the client may not set.
    Skip,
    /// Group `members`, which are stored as rows.
    Members,
    /// A core attribute, or a flat `urn:...:<attr>` key.
    Attribute(AttrRef),
    /// An extension URN whose value contains that extension's attributes.
    Extension(SchemaRef),
    Unknown,
}

fn classify_key(kind: ResourceKind, key: &str) -> Result<BodyKey, ScimError> {
    if key.eq_ignore_ascii_case("schemas") {
        return Ok(BodyKey::Skip);
    }
    if let Some((schema, attr)) = split_attribute_urn(kind, key) {
        return classify_attribute(kind, &schema, &attr);
    }
    if let Ok(schema @ (SchemaRef::Enterprise | SchemaRef::Custom(_))) =
        SchemaRef::from_urn(kind, Some(key))
    {
        return Ok(BodyKey::Extension(schema));
    }
    if kind.core_attribute(key).is_some() {
        return classify_attribute(kind, &SchemaRef::Core, key);
    }
    Ok(BodyKey::Unknown)
}

/// Classifies `name` or `name.sub` of `schema`.
fn classify_attribute(
    kind: ResourceKind,
    schema: &SchemaRef,
    text: &str,
) -> Result<BodyKey, ScimError> {
    let (name, sub) = match text.split_once('.') {
        Some((name, sub)) => (name, Some(sub)),
        None => (text, None),
    };
    let urn = match schema {
        SchemaRef::Core => None,
        other => Some(other.urn(kind)),
    };
    let attr = resolve_attr(kind, urn, name, sub).map_err(ScimError::invalid_value)?;
    let def = definition(kind, &attr)?;
    if kind == ResourceKind::Group && attr.schema == SchemaRef::Core && def.name == "members" {
        return Ok(if attr.sub.is_none() {
            BodyKey::Members
        } else {
            BodyKey::Skip
        });
    }
    let sub_read_only = attr
        .sub
        .as_deref()
        .and_then(|sub| def.sub_attribute(sub))
        .is_some_and(AttrDef::is_read_only);
    if def.is_read_only() || sub_read_only {
        return Ok(BodyKey::Skip);
    }
    Ok(BodyKey::Attribute(attr))
}

fn store_attribute(
    kind: ResourceKind,
    document: &mut Map<String, Value>,
    attr: &AttrRef,
    value: Value,
) -> Result<(), ScimError> {
    let def = definition(kind, attr)?;
    let Some(sub) = attr.sub.clone() else {
        let normalized = normalize_value(kind, attr, def, value)?;
        return update_attribute(document, kind, attr, |_| Ok(normalized));
    };

    let path = attr.path(kind);
    if def.multi_valued {
        return Err(ScimError::invalid_value(format!(
            "\"{path}\" names a sub-attribute of the multi-valued \"{}\"; send \"{}\" as an array of objects",
            def.name, def.name
        )));
    }
    if is_manager(attr) {
        let normalized = normalize_manager(&path, value)?;
        return update_attribute(document, kind, attr, |_| Ok(normalized));
    }
    let sub_def = sub_definition(def, &sub, &path)?;
    let sub_value = normalize_simple(sub_def, &path, value)?;
    update_attribute(document, kind, attr, |current| {
        Ok(set_sub_attribute(current, sub_def.name, sub_value))
    })
}

/// Stores the attributes of an extension sent as an object under its URN.
fn store_extension(
    kind: ResourceKind,
    document: &mut Map<String, Value>,
    key: &str,
    schema: &SchemaRef,
    value: Value,
) -> Result<(), ScimError> {
    let fields = match value {
        Value::Null => return Ok(()),
        Value::Object(fields) => fields,
        other => {
            return Err(ScimError::invalid_value(format!(
                "\"{key}\" must be an object containing the extension's attributes, not {}",
                json_type(&other)
            )));
        }
    };
    for (name, inner) in fields {
        match classify_attribute(kind, schema, &name)? {
            BodyKey::Attribute(attr) => store_attribute(kind, document, &attr, inner)?,
            _ => continue,
        }
    }
    Ok(())
}

/// Ignores an unknown key with an empty value and rejects any other.
fn reject_unknown(kind: ResourceKind, key: &str, value: &Value) -> Result<(), ScimError> {
    if is_empty(value) {
        return Ok(());
    }
    Err(ScimError::invalid_value(format!(
        "attribute \"{key}\" is not in the {} schema or a supported extension; \
         GET /Schemas lists the supported attributes",
        kind.core_schema().id
    )))
}

fn require_core_schema(kind: ResourceKind, body: &Map<String, Value>) -> Result<(), ScimError> {
    let urn = kind.core_schema().id;
    let listed = body
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case("schemas"))
        .and_then(|(_, value)| value.as_array())
        .is_some_and(|items| {
            items
                .iter()
                .filter_map(Value::as_str)
                .any(|item| item.eq_ignore_ascii_case(urn))
        });
    if listed {
        return Ok(());
    }
    Err(ScimError::invalid_value(format!(
        "\"schemas\" must be an array that contains \"{urn}\" for a {}",
        kind.as_str()
    )))
}

// ---------------------------------------------------------------------------
// Attribute lookup and placement, shared with PATCH

/// Looks up the definition of the top-level attribute `attr` names.
pub(crate) fn definition(
    kind: ResourceKind,
    attr: &AttrRef,
) -> Result<&'static AttrDef, ScimError> {
    let def = match &attr.schema {
        SchemaRef::Core => kind.core_attribute(&attr.name),
        SchemaRef::Enterprise => ENTERPRISE_USER_ATTRIBUTES
            .iter()
            .find(|def| def.name.eq_ignore_ascii_case(&attr.name)),
        SchemaRef::Custom(_) => Some(&CUSTOM_ATTRIBUTE),
    };
    def.ok_or_else(|| {
        ScimError::invalid_path(format!(
            "attribute \"{}\" is not in the {} schema; GET /Schemas lists the supported attributes",
            attr.name,
            attr.schema.urn(kind)
        ))
    })
}

pub(crate) fn sub_definition(
    def: &AttrDef,
    sub: &str,
    path: &str,
) -> Result<&'static AttrDef, ScimError> {
    def.sub_attribute(sub).ok_or_else(|| {
        ScimError::invalid_value(format!(
            "\"{path}\": attribute \"{}\" has no sub-attribute \"{sub}\"; \
             GET /Schemas lists the supported ones",
            def.name
        ))
    })
}

/// Returns true for the enterprise `manager`, which is stored as
/// `{"value": "<id>"}` whatever shape it arrived in.
pub(crate) fn is_manager(attr: &AttrRef) -> bool {
    attr.schema == SchemaRef::Enterprise && attr.name == "manager"
}

/// Replaces the stored value of the top-level attribute `attr` with what
/// `change` returns for the current value; `None` removes the attribute.
///
/// Names match case-insensitively, so a custom extension attribute keeps the
/// spelling it was first stored under. The attribute keeps its position in
/// the document. An extension object emptied by the change stays until
/// [`finish_document`] drops it.
pub(crate) fn update_attribute(
    document: &mut Map<String, Value>,
    kind: ResourceKind,
    attr: &AttrRef,
    change: impl FnOnce(Option<Value>) -> Result<Option<Value>, ScimError>,
) -> Result<(), ScimError> {
    let container = match container_key(document, kind, &attr.schema) {
        None => document,
        Some(key) => document
            .entry(key)
            .or_insert_with(|| Value::Object(Map::new()))
            .as_object_mut()
            .ok_or_else(ScimError::internal)?,
    };
    let Some(key) = find_key(container, &attr.name).map(str::to_string) else {
        if let Some(value) = change(None)? {
            container.insert(attr.name.clone(), value);
        }
        return Ok(());
    };
    let current = container.get_mut(&key).map(Value::take);
    match change(current)? {
        Some(value) => {
            container.insert(key, value);
        }
        None => {
            container.shift_remove(&key);
        }
    }
    Ok(())
}

fn container_key(
    document: &Map<String, Value>,
    kind: ResourceKind,
    schema: &SchemaRef,
) -> Option<String> {
    match schema {
        SchemaRef::Core => None,
        SchemaRef::Enterprise => Some(ENTERPRISE_USER_URN.to_string()),
        SchemaRef::Custom(_) => {
            let urn = schema.urn(kind);
            Some(find_key(document, urn).unwrap_or(urn).to_string())
        }
    }
}

fn find_key<'a>(map: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    map.keys()
        .find(|key| key.eq_ignore_ascii_case(name))
        .map(String::as_str)
}

/// Sets or removes one sub-attribute of a single-valued complex value and
/// returns `None` when nothing is left.
pub(crate) fn set_sub_attribute(
    current: Option<Value>,
    sub: &str,
    value: Option<Value>,
) -> Option<Value> {
    let mut object = match current {
        Some(Value::Object(object)) => object,
        _ => Map::new(),
    };
    match value {
        Some(value) => {
            object.insert(sub.to_string(), value);
        }
        None => {
            object.shift_remove(sub);
        }
    }
    (!object.is_empty()).then_some(Value::Object(object))
}

/// Rebuilds `schemas` from the extensions present and drops empty extension
/// objects, putting `schemas` first.
pub(crate) fn finish_document(
    kind: ResourceKind,
    document: Map<String, Value>,
) -> Map<String, Value> {
    let mut schemas = vec![Value::String(kind.core_schema().id.to_string())];
    let mut out = Map::new();
    out.insert("schemas".to_string(), Value::Null);
    for (key, value) in document {
        if key == "schemas" {
            continue;
        }
        if is_extension_key(kind, &key) {
            if is_empty(&value) {
                continue;
            }
            schemas.push(Value::String(key.clone()));
        }
        out.insert(key, value);
    }
    out.insert("schemas".to_string(), Value::Array(schemas));
    out
}

fn is_extension_key(kind: ResourceKind, key: &str) -> bool {
    matches!(
        SchemaRef::from_urn(kind, Some(key)),
        Ok(SchemaRef::Enterprise | SchemaRef::Custom(_))
    )
}

// ---------------------------------------------------------------------------
// Value normalisation, shared with PATCH. `Ok(None)` means "empty: absent".

/// Normalises the value of a whole top-level attribute (`attr.sub` unset).
pub(crate) fn normalize_value(
    kind: ResourceKind,
    attr: &AttrRef,
    def: &AttrDef,
    value: Value,
) -> Result<Option<Value>, ScimError> {
    let path = attr.path(kind);
    if is_manager(attr) {
        return normalize_manager(&path, value);
    }
    if matches!(attr.schema, SchemaRef::Custom(_)) {
        return normalize_custom(&path, value);
    }
    if def.multi_valued {
        return normalize_multi(def, &path, value);
    }
    if def.kind == AttrType::Complex {
        return normalize_complex(def, &path, value);
    }
    normalize_simple(def, &path, value)
}

/// Normalises a string or boolean value. Booleans also arrive as the strings
/// "True" and "False" from Entra, so both spellings are accepted in any case.
pub(crate) fn normalize_simple(
    def: &AttrDef,
    path: &str,
    value: Value,
) -> Result<Option<Value>, ScimError> {
    match value {
        Value::Null => Ok(None),
        Value::String(text) if text.is_empty() => Ok(None),
        value if def.kind == AttrType::Boolean => coerce_bool(path, &value).map(Some),
        Value::String(text) => Ok(Some(Value::String(text))),
        other => Err(ScimError::invalid_value(format!(
            "\"{path}\" must be a string, not {other}"
        ))),
    }
}

fn coerce_bool(path: &str, value: &Value) -> Result<Value, ScimError> {
    let parsed = match value {
        Value::Bool(flag) => Some(*flag),
        Value::String(text) if text.eq_ignore_ascii_case("true") => Some(true),
        Value::String(text) if text.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    };
    parsed.map(Value::Bool).ok_or_else(|| {
        ScimError::invalid_value(format!(
            "\"{path}\" must be true or false (the strings \"True\" and \"False\" are accepted too), not {value}"
        ))
    })
}

/// Entra sends custom extension attributes single-valued and non-reference
/// (Microsoft Learn, "Customize user provisioning attribute-mappings for SaaS
/// applications in Microsoft Entra ID").
fn normalize_custom(path: &str, value: Value) -> Result<Option<Value>, ScimError> {
    match value {
        Value::Null => Ok(None),
        Value::String(text) if text.is_empty() => Ok(None),
        value @ (Value::String(_) | Value::Bool(_) | Value::Number(_)) => Ok(Some(value)),
        other => Err(ScimError::invalid_value(format!(
            "\"{path}\" is a custom extension attribute and must be a single string, \
             boolean or number, not {}",
            json_type(&other)
        ))),
    }
}

/// Accepts the manager as a bare id string (what Entra sends), as
/// `{"value": id}`, or as a one-element array of that, and stores
/// `{"value": id}`. An empty id or null means "no manager".
pub(crate) fn normalize_manager(path: &str, value: Value) -> Result<Option<Value>, ScimError> {
    let id = match value {
        Value::Null => None,
        Value::String(id) => Some(id),
        Value::Object(fields) => manager_id(path, fields)?,
        Value::Array(mut items) if items.len() <= 1 => match items.pop() {
            None => None,
            Some(item) => return normalize_manager(path, item),
        },
        Value::Array(items) => {
            return Err(ScimError::invalid_value(format!(
                "\"{path}\" is single-valued; send one manager, not {}",
                items.len()
            )));
        }
        other => {
            return Err(ScimError::invalid_value(format!(
                "\"{path}\" must be the manager's id or {{\"value\": \"<id>\"}}, not {other}"
            )));
        }
    };
    Ok(id
        .filter(|id| !id.is_empty())
        .map(|id| json!({ "value": id })))
}

fn manager_id(path: &str, fields: Map<String, Value>) -> Result<Option<String>, ScimError> {
    let def = ENTERPRISE_USER_ATTRIBUTES
        .iter()
        .find(|def| def.name == "manager")
        .ok_or_else(ScimError::internal)?;
    let has_fields = !fields.is_empty();
    let mut id = None;
    let mut has_value = false;
    for (name, value) in fields {
        let sub = sub_definition(def, &name, path)?;
        if sub.name != "value" {
            // `$ref` and `displayName` are derived from the id when rendered.
            continue;
        }
        has_value = true;
        id = match value {
            Value::Null => None,
            Value::String(text) => Some(text),
            other => {
                return Err(ScimError::invalid_value(format!(
                    "\"{path}.value\" must be the manager's id as a string, not {other}"
                )));
            }
        };
    }
    if has_fields && !has_value {
        return Err(ScimError::invalid_value(format!(
            "\"{path}\" needs a \"value\" containing the manager's id"
        )));
    }
    Ok(id)
}

/// Normalises a multi-valued attribute. A single object is taken as a
/// one-element array, which PATCH values often are.
pub(crate) fn normalize_multi(
    def: &AttrDef,
    path: &str,
    value: Value,
) -> Result<Option<Value>, ScimError> {
    let items = match value {
        Value::Null => return Ok(None),
        Value::String(text) if text.is_empty() => return Ok(None),
        Value::Array(items) => items,
        object @ Value::Object(_) => vec![object],
        other => {
            return Err(ScimError::invalid_value(format!(
                "\"{path}\" is multi-valued; send an array of objects such as \
                 [{{\"value\": \"...\"}}], not {}",
                json_type(&other)
            )));
        }
    };
    let mut elements = Vec::new();
    for item in items {
        if let Some(element) = normalize_element(def, path, item, true)? {
            elements.push(Value::Object(element));
        }
    }
    Ok((!elements.is_empty()).then_some(Value::Array(elements)))
}

/// Normalises one element of a multi-valued attribute. With `defaults`, an
/// element of `emails`, `phoneNumbers` or `addresses` without a `type` gets
/// `"type": "work"`: Entra's default mappings address these attributes as
/// `attr[type eq "work"]`, which never matches an element without a type.
pub(crate) fn normalize_element(
    def: &AttrDef,
    path: &str,
    value: Value,
    defaults: bool,
) -> Result<Option<Map<String, Value>>, ScimError> {
    let fields = match value {
        Value::Null => return Ok(None),
        Value::Object(fields) => fields,
        other => {
            return Err(ScimError::invalid_value(format!(
                "each value of \"{path}\" must be an object, not {}",
                json_type(&other)
            )));
        }
    };
    let mut element = Map::new();
    for (name, sub_value) in normalize_sub_values(def, path, fields)? {
        if let Some(sub_value) = sub_value {
            element.insert(name.to_string(), sub_value);
        }
    }
    if element.is_empty() {
        return Ok(None);
    }
    if defaults {
        add_default_type(def, &mut element);
    }
    Ok(Some(element))
}

/// Normalises the sub-attributes of a complex value, in the order sent.
/// Each entry is the schema spelling and the value, `None` for an empty one.
/// ReadOnly sub-attributes are left out (RFC 7644 §3.5.1), and so are unknown
/// ones whose value is null, such as the `"$ref": null` Entra adds to values.
pub(crate) fn normalize_sub_values(
    def: &AttrDef,
    path: &str,
    fields: Map<String, Value>,
) -> Result<Vec<(&'static str, Option<Value>)>, ScimError> {
    let mut entries = Vec::new();
    for (name, value) in fields {
        if value.is_null() && def.sub_attribute(&name).is_none() {
            continue;
        }
        let sub = sub_definition(def, &name, path)?;
        if sub.is_read_only() {
            continue;
        }
        let sub_path = format!("{path}.{}", sub.name);
        entries.push((sub.name, normalize_simple(sub, &sub_path, value)?));
    }
    Ok(entries)
}

pub(crate) fn add_default_type(def: &AttrDef, element: &mut Map<String, Value>) {
    let takes_work = def
        .sub_attribute("type")
        .is_some_and(|sub| sub.canonical_values.contains(&"work"));
    if takes_work && !element.contains_key("type") {
        element.insert("type".to_string(), Value::String("work".to_string()));
    }
}

/// Returns true when an element carries data beyond its `type`, `primary`
/// and `display` labels.
pub(crate) fn has_data(element: &Map<String, Value>) -> bool {
    element
        .keys()
        .any(|key| !LABEL_SUB_ATTRIBUTES.contains(&key.as_str()))
}

fn normalize_complex(def: &AttrDef, path: &str, value: Value) -> Result<Option<Value>, ScimError> {
    match value {
        Value::Null => Ok(None),
        Value::String(text) if text.is_empty() => Ok(None),
        object @ Value::Object(_) => {
            Ok(normalize_element(def, path, object, false)?.map(Value::Object))
        }
        other => Err(ScimError::invalid_value(format!(
            "\"{path}\" must be an object of sub-attributes, not {}",
            json_type(&other)
        ))),
    }
}

// ---------------------------------------------------------------------------
// Group members

/// Parses group members from an array of `{"value": id, "type"?, "$ref"?}`
/// objects, or a single such object, dropping repeated ids. Null is no members.
pub(crate) fn parse_members(value: Value) -> Result<Vec<MemberRef>, ScimError> {
    let items = match value {
        Value::Null => Vec::new(),
        Value::Array(items) => items,
        object @ Value::Object(_) => vec![object],
        other => {
            return Err(ScimError::invalid_value(format!(
                "\"members\" must be an array of objects such as [{{\"value\": \"<id>\"}}], not {}",
                json_type(&other)
            )));
        }
    };
    let mut members: Vec<MemberRef> = Vec::new();
    for item in items {
        let member = parse_member(item)?;
        if !members.iter().any(|known| known.value == member.value) {
            members.push(member);
        }
    }
    Ok(members)
}

fn parse_member(item: Value) -> Result<MemberRef, ScimError> {
    let Value::Object(fields) = item else {
        return Err(ScimError::invalid_value(format!(
            "each member must be an object such as {{\"value\": \"<id>\"}}, not {}",
            json_type(&item)
        )));
    };
    let def = GROUP_ATTRIBUTES
        .iter()
        .find(|def| def.name == "members")
        .ok_or_else(ScimError::internal)?;
    let mut id = None;
    let mut kind = None;
    for (name, value) in fields {
        match sub_definition(def, &name, "members")?.name {
            "value" => id = Some(value),
            "type" => kind = member_type(value)?,
            // `$ref` and `display` are derived from the id when rendered.
            _ => {}
        }
    }
    match id {
        Some(Value::String(value)) if !value.is_empty() => Ok(MemberRef { value, kind }),
        other => Err(ScimError::invalid_value(format!(
            "each member needs a non-empty string \"value\" containing the member's id, not {}",
            other.map_or_else(|| "nothing".to_string(), |v| v.to_string())
        ))),
    }
}

fn member_type(value: Value) -> Result<Option<String>, ScimError> {
    match value {
        Value::Null => Ok(None),
        Value::String(text) if text.eq_ignore_ascii_case("User") => Ok(Some("User".into())),
        Value::String(text) if text.eq_ignore_ascii_case("Group") => Ok(Some("Group".into())),
        other => Err(ScimError::invalid_value(format!(
            "member \"type\" must be \"User\" or \"Group\", not {other}"
        ))),
    }
}

// ---------------------------------------------------------------------------
// Validation of stored documents

fn check_schemas_list(kind: ResourceKind, map: &Map<String, Value>) -> Result<(), ScimError> {
    let mut expected = vec![kind.core_schema().id];
    expected.extend(
        map.keys()
            .filter(|key| is_extension_key(kind, key))
            .map(String::as_str),
    );
    let listed: Option<Vec<&str>> = map
        .get("schemas")
        .and_then(Value::as_array)
        .map(|items| items.iter().filter_map(Value::as_str).collect());
    if listed.as_ref() == Some(&expected) {
        return Ok(());
    }
    Err(ScimError::invalid_value(format!(
        "\"schemas\" must be {expected:?} for this {}",
        kind.as_str()
    )))
}

fn check_stored_entry(kind: ResourceKind, key: &str, value: &Value) -> Result<(), ScimError> {
    let core = kind.core_attribute(key).filter(|def| {
        def.name == key
            && !def.is_read_only()
            && !(kind == ResourceKind::Group && def.name == "members")
    });
    if let Some(def) = core {
        return check_stored_value(def, key, value);
    }
    match SchemaRef::from_urn(kind, Some(key)) {
        Ok(SchemaRef::Enterprise) if key == ENTERPRISE_USER_URN => {
            check_extension_object(key, value, |name, inner| {
                let path = format!("{key}:{name}");
                let def = ENTERPRISE_USER_ATTRIBUTES
                    .iter()
                    .find(|def| def.name == name)
                    .ok_or_else(|| unknown_stored(kind, &path))?;
                if def.name == "manager" {
                    check_stored_manager(&path, inner)
                } else {
                    check_stored_value(def, &path, inner)
                }
            })
        }
        Ok(SchemaRef::Custom(_)) => check_extension_object(key, value, |name, inner| match inner {
            Value::String(text) if !text.is_empty() => Ok(()),
            Value::Bool(_) | Value::Number(_) => Ok(()),
            _ => Err(ScimError::invalid_value(format!(
                "\"{key}:{name}\" must be a single string, boolean or number"
            ))),
        }),
        _ => Err(unknown_stored(kind, key)),
    }
}

fn unknown_stored(kind: ResourceKind, path: &str) -> ScimError {
    ScimError::invalid_value(format!(
        "\"{path}\" is not an attribute of a stored {}",
        kind.as_str()
    ))
}

fn check_extension_object(
    key: &str,
    value: &Value,
    mut check: impl FnMut(&str, &Value) -> Result<(), ScimError>,
) -> Result<(), ScimError> {
    let object = value
        .as_object()
        .filter(|object| !object.is_empty())
        .ok_or_else(|| {
            ScimError::invalid_value(format!(
                "\"{key}\" must be a non-empty object of extension attributes"
            ))
        })?;
    object
        .iter()
        .try_for_each(|(name, inner)| check(name, inner))
}

fn check_stored_manager(path: &str, value: &Value) -> Result<(), ScimError> {
    let well_formed = value.as_object().is_some_and(|object| {
        object.len() == 1
            && object
                .get("value")
                .and_then(Value::as_str)
                .is_some_and(|id| !id.is_empty())
    });
    if well_formed {
        return Ok(());
    }
    Err(ScimError::invalid_value(format!(
        "\"{path}\" must be {{\"value\": \"<manager id>\"}}, not {value}"
    )))
}

fn check_stored_value(def: &AttrDef, path: &str, value: &Value) -> Result<(), ScimError> {
    if def.multi_valued {
        let items = value
            .as_array()
            .filter(|items| !items.is_empty())
            .ok_or_else(|| mistyped(path, "a non-empty array of objects", value))?;
        return items
            .iter()
            .try_for_each(|item| check_stored_element(def, path, item));
    }
    if def.kind == AttrType::Complex {
        return check_stored_element(def, path, value);
    }
    check_stored_scalar(def, path, value)
}

fn check_stored_element(def: &AttrDef, path: &str, value: &Value) -> Result<(), ScimError> {
    let object = value
        .as_object()
        .filter(|object| !object.is_empty())
        .ok_or_else(|| mistyped(path, "a non-empty object", value))?;
    for (name, inner) in object {
        let sub_path = format!("{path}.{name}");
        let sub = def
            .sub_attributes
            .iter()
            .find(|sub| sub.name == name)
            .ok_or_else(|| {
                ScimError::invalid_value(format!("\"{sub_path}\" is not a known sub-attribute"))
            })?;
        check_stored_scalar(sub, &sub_path, inner)?;
    }
    Ok(())
}

fn check_stored_scalar(def: &AttrDef, path: &str, value: &Value) -> Result<(), ScimError> {
    match (def.kind, value) {
        (AttrType::Boolean, Value::Bool(_)) => Ok(()),
        (AttrType::Boolean, _) => Err(mistyped(path, "a boolean", value)),
        (_, Value::String(_)) => Ok(()),
        _ => Err(mistyped(path, "a string", value)),
    }
}

fn mistyped(path: &str, expected: &str, value: &Value) -> ScimError {
    ScimError::invalid_value(format!("\"{path}\" must be {expected}, not {value}"))
}

fn check_required(kind: ResourceKind, map: &Map<String, Value>) -> Result<(), ScimError> {
    for def in kind
        .core_schema()
        .attributes
        .iter()
        .filter(|def| def.required)
    {
        let present = map
            .get(def.name)
            .and_then(Value::as_str)
            .is_some_and(|text| !text.is_empty());
        if !present {
            return Err(ScimError::invalid_value(format!(
                "\"{}\" is required for a {}; send it as a non-empty string",
                def.name,
                kind.as_str()
            )));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Small helpers

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(text) => text.is_empty(),
        Value::Array(items) => items.is_empty(),
        Value::Object(fields) => fields.is_empty(),
        _ => false,
    }
}

pub(crate) fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::error::ScimType;
    use crate::schema::{GROUP_URN, USER_URN};

    const CUSTOM_URN: &str = "urn:ietf:params:scim:schemas:extension:lockgate:2.0:User";
    const ADSCIM_GROUP_URN: &str =
        "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group";

    fn user(body: Value) -> Value {
        normalize(ResourceKind::User, body).unwrap().value
    }

    fn user_error(body: Value) -> ScimError {
        normalize(ResourceKind::User, body).unwrap_err()
    }

    fn assert_invalid_value(error: &ScimError, mentions: &[&str]) {
        assert_eq!(error.status, 400, "{error}");
        assert_eq!(error.scim_type, Some(ScimType::InvalidValue), "{error}");
        for text in mentions {
            assert!(
                error.detail.contains(text),
                "{text:?} not in {:?}",
                error.detail
            );
        }
    }

    #[test]
    fn entra_create_user_body_is_stored_canonically() {
        let body = json!({
            "schemas": [USER_URN, ENTERPRISE_USER_URN],
            "externalId": "mokafor",
            "userName": "mira.okafor@lockers.example",
            "active": true,
            "displayName": "Mira Okafor",
            "title": "Night supervisor",
            "emails": [{"primary": true, "type": "work", "value": "mira.okafor@lockers.example"}],
            "name": {"givenName": "Mira", "familyName": "Okafor", "formatted": "Mira Okafor"},
            "phoneNumbers": [{"type": "mobile", "value": "+10000000001"}],
            ENTERPRISE_USER_URN: {"employeeNumber": "E-1042", "department": "Depot North"},
            "meta": {"resourceType": "User"},
            "roles": []
        });
        let document = normalize(ResourceKind::User, body).unwrap();
        assert_eq!(document.members, None);
        assert_eq!(
            document.value,
            json!({
                "schemas": [USER_URN, ENTERPRISE_USER_URN],
                "externalId": "mokafor",
                "userName": "mira.okafor@lockers.example",
                "active": true,
                "displayName": "Mira Okafor",
                "title": "Night supervisor",
                "emails": [{"primary": true, "type": "work", "value": "mira.okafor@lockers.example"}],
                "name": {"givenName": "Mira", "familyName": "Okafor", "formatted": "Mira Okafor"},
                "phoneNumbers": [{"type": "mobile", "value": "+10000000001"}],
                ENTERPRISE_USER_URN: {"employeeNumber": "E-1042", "department": "Depot North"}
            })
        );
        let keys: Vec<&String> = document.value.as_object().unwrap().keys().collect();
        assert_eq!(keys[0], "schemas", "schemas comes first");
    }

    #[test]
    fn s3_active_string_becomes_boolean() {
        for (text, expected) in [
            ("True", true),
            ("FALSE", false),
            ("true", true),
            ("False", false),
        ] {
            let stored = user(json!({"schemas": [USER_URN], "userName": "ivo", "active": text}));
            assert_eq!(stored["active"], json!(expected), "{text}");
        }
    }

    #[test]
    fn boolean_rejects_other_strings() {
        let error = user_error(json!({"schemas": [USER_URN], "userName": "ivo", "active": "yes"}));
        assert_invalid_value(&error, &["active", "yes"]);

        let error = user_error(json!({"schemas": [USER_URN], "userName": "ivo", "active": 1}));
        assert_invalid_value(&error, &["active", "1"]);

        let error = user_error(json!({
            "schemas": [USER_URN], "userName": "ivo",
            "emails": [{"value": "a@x", "primary": "maybe"}]
        }));
        assert_invalid_value(&error, &["emails.primary", "maybe"]);
    }

    #[test]
    fn primary_string_is_coerced() {
        let stored = user(json!({
            "schemas": [USER_URN], "userName": "ivo",
            "emails": [{"value": "a@x", "type": "work", "primary": "True"}]
        }));
        assert_eq!(
            stored["emails"],
            json!([{"value": "a@x", "type": "work", "primary": true}])
        );
    }

    #[test]
    fn active_defaults_to_true() {
        let stored = user(json!({"schemas": [USER_URN], "userName": "ivo"}));
        assert_eq!(
            stored,
            json!({"schemas": [USER_URN], "userName": "ivo", "active": true})
        );
    }

    #[test]
    fn s10_typeless_values_default_to_work() {
        let stored = user(json!({
            "schemas": [USER_URN],
            "userName": "ivo.brandt@lockers.example",
            "emails": [{"value": "ivo.brandt@lockers.example", "primary": true}],
            "phoneNumbers": [{"value": "0170 1234"}],
            "addresses": [{"locality": "Bremen"}],
            "ims": [{"value": "ivo"}]
        }));
        assert_eq!(
            stored["emails"],
            json!([{"value": "ivo.brandt@lockers.example", "primary": true, "type": "work"}])
        );
        assert_eq!(
            stored["phoneNumbers"],
            json!([{"value": "0170 1234", "type": "work"}])
        );
        assert_eq!(
            stored["addresses"],
            json!([{"locality": "Bremen", "type": "work"}])
        );
        assert_eq!(
            stored["ims"],
            json!([{"value": "ivo"}]),
            "ims types are not work/home"
        );
    }

    #[test]
    fn phone_numbers_are_stored_as_sent() {
        let stored = user(json!({
            "schemas": [USER_URN], "userName": "ivo",
            "phoneNumbers": [{"type": "work", "value": "+49 (0)421 555-01"}]
        }));
        assert_eq!(stored["phoneNumbers"][0]["value"], "+49 (0)421 555-01");
    }

    #[test]
    fn s20_group_with_extra_schema_urn_is_accepted() {
        let document = normalize(
            ResourceKind::Group,
            json!({
                "schemas": [GROUP_URN, ADSCIM_GROUP_URN],
                "externalId": "5d2c",
                "displayName": "Bank C Day Shift",
                "meta": {"resourceType": "Group"}
            }),
        )
        .unwrap();
        assert_eq!(
            document.value,
            json!({"schemas": [GROUP_URN], "externalId": "5d2c", "displayName": "Bank C Day Shift"})
        );
        assert_eq!(document.members, None);
    }

    #[test]
    fn core_schema_urn_is_required() {
        let error = user_error(json!({"schemas": [ENTERPRISE_USER_URN], "userName": "ivo"}));
        assert_invalid_value(&error, &[USER_URN]);

        let error = user_error(json!({"userName": "ivo"}));
        assert_invalid_value(&error, &[USER_URN]);

        let error = normalize(
            ResourceKind::Group,
            json!({"schemas": [USER_URN], "displayName": "x"}),
        )
        .unwrap_err();
        assert_invalid_value(&error, &[GROUP_URN]);
    }

    #[test]
    fn schema_urn_matches_in_any_case() {
        let stored = user(json!({
            "schemas": [USER_URN.to_ascii_uppercase()],
            "userName": "ivo"
        }));
        assert_eq!(stored["schemas"], json!([USER_URN]));
    }

    #[test]
    fn body_must_be_an_object() {
        for body in [json!([]), json!("user"), json!(null)] {
            let error = normalize(ResourceKind::User, body).unwrap_err();
            assert_eq!(error.status, 400);
            assert_eq!(error.scim_type, Some(ScimType::InvalidSyntax));
        }
    }

    #[test]
    fn unknown_attribute_is_rejected() {
        let error = user_error(json!({"schemas": [USER_URN], "userName": "ivo", "shoeSize": "44"}));
        assert_invalid_value(&error, &["shoeSize", "GET /Schemas"]);

        let error = user_error(json!({
            "schemas": [USER_URN], "userName": "ivo",
            "urn:example:unknown:1.0:Thing": {"colour": "red"}
        }));
        assert_invalid_value(&error, &["urn:example:unknown:1.0:Thing"]);
    }

    #[test]
    fn unknown_attribute_with_empty_value_is_ignored() {
        let stored = user(json!({"schemas": [USER_URN], "userName": "ivo", "shoeSize": null}));
        assert!(stored.get("shoeSize").is_none());
    }

    #[test]
    fn attribute_names_take_schema_spelling() {
        let stored = user(json!({
            "schemas": [USER_URN],
            "USERNAME": "ivo",
            "Name": {"GIVENNAME": "Ivo", "familyname": "Brandt"},
            "EMAILS": [{"VALUE": "ivo@x", "Type": "home", "PRIMARY": true}],
            "externalid": "ib-1"
        }));
        assert_eq!(
            stored,
            json!({
                "schemas": [USER_URN],
                "userName": "ivo",
                "name": {"givenName": "Ivo", "familyName": "Brandt"},
                "emails": [{"value": "ivo@x", "type": "home", "primary": true}],
                "externalId": "ib-1",
                "active": true
            })
        );
    }

    #[test]
    fn unknown_sub_attribute_is_rejected() {
        let error = user_error(json!({
            "schemas": [USER_URN], "userName": "ivo",
            "name": {"nickname": "Ivo"}
        }));
        assert_invalid_value(&error, &["name", "nickname"]);

        let error = user_error(json!({
            "schemas": [USER_URN], "userName": "ivo",
            "emails": [{"value": "a@x", "label": "work"}]
        }));
        assert_invalid_value(&error, &["emails", "label"]);
    }

    #[test]
    fn read_only_attributes_are_ignored() {
        let stored = user(json!({
            "schemas": [USER_URN],
            "id": "u-1",
            "meta": {"resourceType": "User", "created": "2026-01-01T00:00:00Z"},
            "groups": [{"value": "g-1"}],
            "userName": "ivo",
            ENTERPRISE_USER_URN: {"manager": {"value": "u-2", "displayName": "Boss"}}
        }));
        assert_eq!(
            stored,
            json!({
                "schemas": [USER_URN, ENTERPRISE_USER_URN],
                "userName": "ivo",
                ENTERPRISE_USER_URN: {"manager": {"value": "u-2"}},
                "active": true
            })
        );
    }

    #[test]
    fn empty_values_are_dropped() {
        let stored = user(json!({
            "schemas": [USER_URN],
            "userName": "ivo",
            "roles": [],
            "title": null,
            "nickName": "",
            "photos": [{"value": "https://x/p.png", "$ref": null, "display": null}],
            "name": {"givenName": null},
            ENTERPRISE_USER_URN: {"department": null}
        }));
        assert_eq!(
            stored,
            json!({
                "schemas": [USER_URN],
                "userName": "ivo",
                "photos": [{"value": "https://x/p.png"}],
                "active": true
            })
        );
    }

    #[test]
    fn user_name_is_required() {
        for body in [
            json!({"schemas": [USER_URN]}),
            json!({"schemas": [USER_URN], "userName": ""}),
            json!({"schemas": [USER_URN], "userName": null}),
        ] {
            let error = user_error(body);
            assert_invalid_value(&error, &["userName", "required"]);
        }
        let error = user_error(json!({"schemas": [USER_URN], "userName": 7}));
        assert_invalid_value(&error, &["userName", "string"]);
    }

    #[test]
    fn group_display_name_is_required() {
        let error = normalize(ResourceKind::Group, json!({"schemas": [GROUP_URN]})).unwrap_err();
        assert_invalid_value(&error, &["displayName", "required"]);
    }

    #[test]
    fn s11_manager_shapes_are_stored_as_object() {
        for manager in [
            json!("u-9b0e"),
            json!({"value": "u-9b0e"}),
            json!({"value": "u-9b0e", "$ref": "https://locker.example/scim/v2/Users/u-9b0e"}),
            json!([{"value": "u-9b0e", "$ref": null}]),
        ] {
            let stored = user(json!({
                "schemas": [USER_URN, ENTERPRISE_USER_URN],
                "userName": "mira",
                ENTERPRISE_USER_URN: {"manager": manager.clone()}
            }));
            assert_eq!(
                stored[ENTERPRISE_USER_URN],
                json!({"manager": {"value": "u-9b0e"}}),
                "{manager}"
            );
        }
    }

    #[test]
    fn empty_manager_means_no_manager() {
        for manager in [json!(""), json!(null), json!({"value": ""}), json!([])] {
            let stored = user(json!({
                "schemas": [USER_URN, ENTERPRISE_USER_URN],
                "userName": "mira",
                ENTERPRISE_USER_URN: {"manager": manager.clone()}
            }));
            assert_eq!(
                stored,
                json!({"schemas": [USER_URN], "userName": "mira", "active": true}),
                "{manager}"
            );
        }
    }

    #[test]
    fn manager_rejects_two_values_and_missing_id() {
        let error = user_error(json!({
            "schemas": [USER_URN], "userName": "mira",
            ENTERPRISE_USER_URN: {"manager": [{"value": "a"}, {"value": "b"}]}
        }));
        assert_invalid_value(&error, &["manager", "single-valued"]);

        let error = user_error(json!({
            "schemas": [USER_URN], "userName": "mira",
            ENTERPRISE_USER_URN: {"manager": {"$ref": "https://x/Users/a"}}
        }));
        assert_invalid_value(&error, &["manager", "value"]);
    }

    #[test]
    fn enterprise_attributes_arrive_as_flat_urn_keys() {
        let stored = user(json!({
            "schemas": [USER_URN],
            "userName": "mira",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department": "Depot South",
            "URN:IETF:PARAMS:SCIM:SCHEMAS:EXTENSION:ENTERPRISE:2.0:USER:MANAGER": "u-9b0e"
        }));
        assert_eq!(
            stored,
            json!({
                "schemas": [USER_URN, ENTERPRISE_USER_URN],
                "userName": "mira",
                ENTERPRISE_USER_URN: {"department": "Depot South", "manager": {"value": "u-9b0e"}},
                "active": true
            })
        );
    }

    #[test]
    fn enterprise_urn_key_case_is_canonicalised() {
        let stored = user(json!({
            "schemas": [USER_URN],
            "userName": "mira",
            ENTERPRISE_USER_URN.to_ascii_lowercase(): {"DEPARTMENT": "Depot North"}
        }));
        assert_eq!(
            stored[ENTERPRISE_USER_URN],
            json!({"department": "Depot North"})
        );
        assert_eq!(stored["schemas"], json!([USER_URN, ENTERPRISE_USER_URN]));
    }

    #[test]
    fn unknown_enterprise_attribute_is_rejected() {
        let error = user_error(json!({
            "schemas": [USER_URN], "userName": "mira",
            ENTERPRISE_USER_URN: {"badge": "1"}
        }));
        assert_invalid_value(&error, &["badge", "GET /Schemas"]);
    }

    #[test]
    fn custom_extension_nested_and_flat() {
        let stored = user(json!({
            "schemas": [USER_URN],
            "userName": "mira",
            CUSTOM_URN: {"badgeNumber": "0A1B", "lockerBank": 7},
            format!("{CUSTOM_URN}:nightAccess"): true
        }));
        assert_eq!(
            stored,
            json!({
                "schemas": [USER_URN, CUSTOM_URN],
                "userName": "mira",
                CUSTOM_URN: {"badgeNumber": "0A1B", "lockerBank": 7, "nightAccess": true},
                "active": true
            })
        );
    }

    #[test]
    fn custom_extension_values_must_be_single() {
        for value in [json!(["a"]), json!({"a": 1})] {
            let error = user_error(json!({
                "schemas": [USER_URN], "userName": "mira",
                format!("{CUSTOM_URN}:badgeNumber"): value
            }));
            assert_invalid_value(&error, &["badgeNumber", "single string, boolean or number"]);
        }
    }

    #[test]
    fn schemas_list_core_then_extensions_present() {
        let stored = user(json!({
            "schemas": [ENTERPRISE_USER_URN, USER_URN, CUSTOM_URN],
            "userName": "mira",
            CUSTOM_URN: {"badgeNumber": "0A1B"},
            ENTERPRISE_USER_URN: {"department": "Depot"}
        }));
        assert_eq!(
            stored["schemas"],
            json!([USER_URN, CUSTOM_URN, ENTERPRISE_USER_URN])
        );

        let stored = user(json!({
            "schemas": [USER_URN, ENTERPRISE_USER_URN],
            "userName": "mira"
        }));
        assert_eq!(
            stored["schemas"],
            json!([USER_URN]),
            "no enterprise attributes were sent"
        );
    }

    #[test]
    fn group_members_are_returned_apart() {
        let document = normalize(
            ResourceKind::Group,
            json!({
                "schemas": [GROUP_URN],
                "displayName": "Bank B Night Shift",
                "members": [
                    {"value": "u-7d1e", "$ref": null},
                    {"value": "g-2", "type": "group", "display": "Nested"},
                    {"value": "u-7d1e"}
                ]
            }),
        )
        .unwrap();
        assert_eq!(
            document.value,
            json!({"schemas": [GROUP_URN], "displayName": "Bank B Night Shift"})
        );
        assert_eq!(
            document.members,
            Some(vec![
                MemberRef {
                    value: "u-7d1e".into(),
                    kind: None
                },
                MemberRef {
                    value: "g-2".into(),
                    kind: Some("Group".into())
                },
            ])
        );
    }

    #[test]
    fn empty_group_members_are_an_empty_list() {
        let document = normalize(
            ResourceKind::Group,
            json!({"schemas": [GROUP_URN], "displayName": "g", "members": []}),
        )
        .unwrap();
        assert_eq!(document.members, Some(vec![]));
    }

    #[test]
    fn group_member_needs_string_value() {
        for member in [
            json!({"display": "x"}),
            json!({"value": ""}),
            json!({"value": 5}),
            json!("u-1"),
        ] {
            let error = normalize(
                ResourceKind::Group,
                json!({"schemas": [GROUP_URN], "displayName": "g", "members": [member.clone()]}),
            )
            .unwrap_err();
            assert_eq!(error.scim_type, Some(ScimType::InvalidValue), "{member}");
        }
        let error = normalize(
            ResourceKind::Group,
            json!({"schemas": [GROUP_URN], "displayName": "g", "members": [{"value": "u", "type": "Device"}]}),
        )
        .unwrap_err();
        assert_invalid_value(&error, &["Device"]);
    }

    #[test]
    fn validate_accepts_normalized_documents() {
        let stored = user(json!({
            "schemas": [USER_URN],
            "userName": "mira",
            "emails": [{"value": "a@x"}],
            CUSTOM_URN: {"badgeNumber": "0A1B"},
            ENTERPRISE_USER_URN: {"manager": "u-1"}
        }));
        assert_eq!(validate(ResourceKind::User, &stored), Ok(()));
    }

    #[test]
    fn validate_rejects_bad_documents() {
        let cases = [
            (json!({"schemas": [USER_URN], "active": true}), "userName"),
            (
                json!({"schemas": [USER_URN], "userName": "m", "active": "true"}),
                "active",
            ),
            (
                json!({"schemas": [USER_URN], "userName": "m", "emails": {"value": "a"}}),
                "emails",
            ),
            (
                json!({"schemas": [USER_URN], "userName": "m", "emails": []}),
                "emails",
            ),
            (
                json!({"schemas": [USER_URN], "userName": "m", "name": {"given": "x"}}),
                "name.given",
            ),
            (
                json!({"schemas": [USER_URN], "userName": "m", "id": "u-1"}),
                "id",
            ),
            (
                json!({"schemas": [USER_URN], "userName": "m", "USERNAME": "x"}),
                "USERNAME",
            ),
            (json!({"userName": "m"}), "schemas"),
            (
                json!({"schemas": [USER_URN], "userName": "m", ENTERPRISE_USER_URN: {"department": "d"}}),
                "schemas",
            ),
            (
                json!({"schemas": [USER_URN, ENTERPRISE_USER_URN], "userName": "m", ENTERPRISE_USER_URN: {"manager": "u-1"}}),
                "manager",
            ),
            (json!([]), "object"),
        ];
        for (document, mentions) in cases {
            let error = validate(ResourceKind::User, &document).unwrap_err();
            assert_invalid_value(&error, &[mentions]);
        }
        let error = validate(
            ResourceKind::Group,
            &json!({"schemas": [GROUP_URN], "displayName": "g", "members": [{"value": "u"}]}),
        )
        .unwrap_err();
        assert_invalid_value(&error, &["members"]);
    }
}
