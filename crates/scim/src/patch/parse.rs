//! From a PATCH request body to resolved [`PatchOperation`]s.

use scim_v2::filter::PatchPath;
use serde_json::{Map, Value};

use super::{PatchOp, PatchOperation, PatchPathRef};
use crate::error::ScimError;
use crate::filter::{AttrRef, parse_element_filter, resolve_attr};
use crate::resource::json_type;
use crate::schema::{AttrType, ENTERPRISE_USER_URN, ResourceKind, SchemaRef, split_attribute_urn};

/// Parses a PATCH request body (RFC 7644 §3.5.2) into operations whose paths
/// are resolved against the schema of `kind`.
///
/// `Operations`, `op`, `path` and `value` are found in any case, and `op`
/// matches add, replace and remove in any case. A pathless add or replace
/// becomes one operation per key of its value object (see
/// [`PatchOperation`]). The `schemas` member of the body is not checked.
/// Every error is a 400: `invalidSyntax` for the body's structure,
/// `invalidPath` for a path, `noTarget` for a remove without a path.
pub fn parse_operations(
    kind: ResourceKind,
    body: &Value,
) -> Result<Vec<PatchOperation>, ScimError> {
    let object = body.as_object().ok_or_else(|| {
        ScimError::invalid_syntax(format!(
            "a PATCH body must be a JSON object with \"Operations\", not {}",
            json_type(body)
        ))
    })?;
    let operations = field(object, "Operations")
        .and_then(Value::as_array)
        .filter(|operations| !operations.is_empty())
        .ok_or_else(|| {
            ScimError::invalid_syntax(
                "a PATCH body needs \"Operations\": a non-empty array of {\"op\", \"path\", \"value\"} objects",
            )
        })?;

    let mut parsed = Vec::new();
    for (index, operation) in operations.iter().enumerate() {
        parse_operation(kind, index, operation, &mut parsed)?;
    }
    Ok(parsed)
}

fn parse_operation(
    kind: ResourceKind,
    index: usize,
    operation: &Value,
    out: &mut Vec<PatchOperation>,
) -> Result<(), ScimError> {
    let object = operation.as_object().ok_or_else(|| {
        ScimError::invalid_syntax(format!(
            "Operations[{index}] must be an object with \"op\", \"path\" and \"value\", not {}",
            json_type(operation)
        ))
    })?;
    let op = parse_op(index, field(object, "op"))?;
    let value = field(object, "value").cloned();
    let path = match field(object, "path") {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => Some(text.as_str()),
        Some(other) => {
            return Err(ScimError::invalid_path(format!(
                "Operations[{index}].path must be a string, not {}",
                json_type(other)
            )));
        }
    };

    let Some(path) = path else {
        return expand_pathless(kind, index, op, value, out);
    };
    if is_extension_urn(kind, path) {
        return expand_extension_path(kind, index, op, path, value, out);
    }
    let path = parse_path(kind, path)?;
    if op != PatchOp::Remove && value.is_none() {
        return Err(ScimError::invalid_syntax(format!(
            "Operations[{index}]: \"{}\" of \"{}\" needs a \"value\"",
            op.as_str(),
            path.path_text(kind)
        )));
    }
    out.push(PatchOperation { op, path, value });
    Ok(())
}

fn parse_op(index: usize, op: Option<&Value>) -> Result<PatchOp, ScimError> {
    let text = op.and_then(Value::as_str).unwrap_or_default();
    [PatchOp::Add, PatchOp::Replace, PatchOp::Remove]
        .into_iter()
        .find(|candidate| candidate.as_str().eq_ignore_ascii_case(text))
        .ok_or_else(|| {
            let received = op.map_or_else(|| "nothing".to_string(), Value::to_string);
            ScimError::invalid_syntax(format!(
                "Operations[{index}].op must be \"add\", \"replace\" or \"remove\", not {received}"
            ))
        })
}

/// Expands a pathless add or replace (RFC 7644 §3.5.2.1 and §3.5.2.3) into
/// one operation per key. Keys may be attribute names, dotted sub-attribute
/// paths (`"name.givenName"`) or full attribute URNs, which Entra sends with
/// the `aadOptscim062020` flag. A key that is an extension URN contains an
/// object of that extension's attributes.
fn expand_pathless(
    kind: ResourceKind,
    index: usize,
    op: PatchOp,
    value: Option<Value>,
    out: &mut Vec<PatchOperation>,
) -> Result<(), ScimError> {
    if op == PatchOp::Remove {
        return Err(ScimError::no_target(format!(
            "Operations[{index}]: remove needs a \"path\" naming what to remove"
        )));
    }
    let fields = match value {
        Some(Value::Object(fields)) => fields,
        other => {
            let received = other.as_ref().map_or("nothing", json_type);
            return Err(ScimError::invalid_syntax(format!(
                "Operations[{index}]: an {} without a \"path\" needs an object \"value\" of attributes, not {received}",
                op.as_str()
            )));
        }
    };
    for (key, inner) in fields {
        if key.eq_ignore_ascii_case("schemas") {
            continue;
        }
        if is_extension_urn(kind, &key) {
            expand_extension_path(kind, index, op, &key, Some(inner), out)?;
            continue;
        }
        let path = parse_path(kind, &key)?;
        out.push(PatchOperation {
            op,
            path,
            value: Some(inner),
        });
    }
    Ok(())
}

/// Expands an add or replace whose target is a whole extension, as a path or
/// as a key of a pathless value, into one operation per attribute.
fn expand_extension_path(
    kind: ResourceKind,
    index: usize,
    op: PatchOp,
    urn: &str,
    value: Option<Value>,
    out: &mut Vec<PatchOperation>,
) -> Result<(), ScimError> {
    if op == PatchOp::Remove {
        return Err(ScimError::invalid_path(format!(
            "Operations[{index}]: remove needs an attribute of the extension, \
             such as \"{urn}:<attribute>\", not the extension \"{urn}\" itself"
        )));
    }
    let fields = match value {
        Some(Value::Object(fields)) => fields,
        other => {
            let received = other.as_ref().map_or("nothing", json_type);
            return Err(ScimError::invalid_value(format!(
                "Operations[{index}]: \"{urn}\" needs an object of the extension's attributes, not {received}"
            )));
        }
    };
    for (name, inner) in fields {
        let path = parse_path(kind, &format!("{urn}:{name}"))?;
        out.push(PatchOperation {
            op,
            path,
            value: Some(inner),
        });
    }
    Ok(())
}

fn is_extension_urn(kind: ResourceKind, text: &str) -> bool {
    matches!(
        SchemaRef::from_urn(kind, Some(text)),
        Ok(SchemaRef::Enterprise | SchemaRef::Custom(_))
    )
}

/// Parses and resolves one path. A full attribute URN is split off first
/// (`schema::split_attribute_urn`), because the schema URNs contain dots
/// that the path grammar would take for a sub-attribute.
pub(super) fn parse_path(kind: ResourceKind, text: &str) -> Result<PatchPathRef, ScimError> {
    let trimmed = text.trim();
    let (urn, rest) = match split_attribute_urn(kind, trimmed) {
        Some((schema, rest)) => (Some(schema.urn(kind).to_string()), rest),
        None => (None, trimmed.to_string()),
    };
    let parsed: PatchPath = rest.parse().map_err(|error| {
        ScimError::invalid_path(format!(
            "path {text:?} is not a valid SCIM attribute path ({error}); write it like \
             name.givenName or emails[type eq \"work\"].value"
        ))
    })?;

    match parsed {
        PatchPath::Attr(path) => {
            let urn = merge_urn(text, urn, path.uri)?;
            let attr = resolve(
                kind,
                text,
                urn.as_deref(),
                &path.name,
                path.sub_attr.as_deref(),
            )?;
            Ok(PatchPathRef { attr, filter: None })
        }
        PatchPath::Value(value_path) => {
            if value_path.attr.sub_attr.is_some() {
                return Err(ScimError::invalid_path(format!(
                    "path {text:?}: a [filter] follows a multi-valued attribute, \
                     not a sub-attribute"
                )));
            }
            let urn = merge_urn(text, urn, value_path.attr.uri)?;
            let parent = resolve(kind, text, urn.as_deref(), &value_path.attr.name, None)?;
            if !parent.multi_valued || parent.kind != AttrType::Complex {
                return Err(ScimError::invalid_path(format!(
                    "path {text:?}: \"{}\" is not multi-valued, so a [filter] cannot select its values",
                    parent.path(kind)
                )));
            }
            let filter =
                parse_element_filter(kind, &parent, &value_path.filter).map_err(|error| {
                    ScimError::invalid_path(format!("path {text:?}: {}", error.detail))
                })?;
            let attr = match value_path.sub_attr.as_deref() {
                None => parent,
                Some(sub) => resolve(kind, text, urn.as_deref(), &value_path.attr.name, Some(sub))?,
            };
            Ok(PatchPathRef {
                attr,
                filter: Some(filter),
            })
        }
    }
}

fn merge_urn(
    text: &str,
    split: Option<String>,
    parsed: Option<String>,
) -> Result<Option<String>, ScimError> {
    match (split, parsed) {
        (Some(_), Some(_)) => Err(ScimError::invalid_path(format!(
            "path {text:?} names two schema URNs"
        ))),
        (split, parsed) => Ok(split.or(parsed)),
    }
}

/// Resolves an attribute like `filter::resolve_attr`, but also finds an
/// enterprise User attribute named without its URN: older Microsoft examples
/// send `"path": "manager"`. No enterprise attribute shares a name with a
/// core User attribute, so the fallback is unambiguous.
fn resolve(
    kind: ResourceKind,
    text: &str,
    urn: Option<&str>,
    name: &str,
    sub: Option<&str>,
) -> Result<AttrRef, ScimError> {
    let resolved = resolve_attr(kind, urn, name, sub).or_else(|error| {
        if kind == ResourceKind::User && urn.is_none() && kind.core_attribute(name).is_none() {
            resolve_attr(kind, Some(ENTERPRISE_USER_URN), name, sub).map_err(|_| error)
        } else {
            Err(error)
        }
    });
    resolved.map_err(|error| ScimError::invalid_path(format!("path {text:?}: {error}")))
}

/// Looks a member of a JSON object up ignoring case (RFC 7643 §2.1).
fn field<'a>(object: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    object
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .map(|(_, value)| value)
}
