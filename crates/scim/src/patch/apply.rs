//! Applying resolved operations to a stored document (RFC 7644 §3.5.2).

use serde_json::{Map, Value};

use super::{MemberChange, PatchOp, PatchOperation, PatchOutcome, members, multi};
use crate::error::ScimError;
use crate::resource::{
    self, is_manager, normalize_simple, normalize_sub_values, normalize_value, set_sub_attribute,
    sub_definition,
};
use crate::schema::{AttrDef, AttrType, ResourceKind};

/// Applies `operations` in order to a stored document and checks the result
/// with [`resource::validate`].
///
/// The function is pure: on any error nothing is applied, which gives the
/// all-or-nothing rule of RFC 7644 §3.5.2. Operations on a Group's
/// `members` become [`super::MemberChange`]s and never touch the document.
/// A document that is not a JSON object is a server fault and gives a 500.
pub fn apply(
    kind: ResourceKind,
    document: Value,
    operations: &[PatchOperation],
) -> Result<PatchOutcome, ScimError> {
    let Value::Object(mut map) = document else {
        return Err(ScimError::internal());
    };
    let mut member_changes = Vec::new();
    for operation in operations {
        if operation.path.is_members(kind) {
            member_changes.extend(members::member_change(operation)?);
        } else {
            apply_operation(kind, &mut map, operation)?;
        }
    }
    let document = Value::Object(resource::finish_document(kind, map));
    resource::validate(kind, &document)?;
    Ok(PatchOutcome {
        document,
        member_changes,
    })
}

/// Returns the membership changes of a Group PATCH whose every operation
/// addresses `members`, or `None` when any operation changes the document.
/// Such a PATCH needs no read of the group's document, which Entra's member
/// updates, sent one group at a time and often concurrently, never change.
pub fn member_only_changes(
    kind: ResourceKind,
    operations: &[PatchOperation],
) -> Result<Option<Vec<MemberChange>>, ScimError> {
    if operations.is_empty() || !operations.iter().all(|op| op.path.is_members(kind)) {
        return Ok(None);
    }
    let mut changes = Vec::new();
    for operation in operations {
        changes.extend(members::member_change(operation)?);
    }
    Ok(Some(changes))
}

fn apply_operation(
    kind: ResourceKind,
    document: &mut Map<String, Value>,
    operation: &PatchOperation,
) -> Result<(), ScimError> {
    let def = resource::definition(kind, &operation.path.attr)?;
    check_allowed(kind, def, operation)?;
    resource::update_attribute(document, kind, &operation.path.attr, |current| {
        if def.multi_valued {
            multi::change(kind, def, operation, current)
        } else {
            change_single(kind, def, operation, current)
        }
    })
}

/// Rejects changes to readOnly attributes (RFC 7644 §3.5.2: 400
/// `mutability`) and the removal of a required attribute.
fn check_allowed(
    kind: ResourceKind,
    def: &AttrDef,
    operation: &PatchOperation,
) -> Result<(), ScimError> {
    let path = &operation.path;
    let sub_read_only = path
        .attr
        .sub
        .as_deref()
        .and_then(|sub| def.sub_attribute(sub))
        .is_some_and(AttrDef::is_read_only);
    if def.is_read_only() || sub_read_only {
        return Err(ScimError::mutability(format!(
            "\"{}\" is readOnly, so PATCH cannot change it",
            path.path_text(kind)
        )));
    }
    if path.filter.is_some() && !def.multi_valued {
        return Err(ScimError::invalid_path(format!(
            "\"{}\" is not multi-valued, so a [filter] cannot select its values",
            path.path_text(kind)
        )));
    }
    let whole = path.attr.sub.is_none() && path.filter.is_none();
    if operation.op == PatchOp::Remove && def.required && whole {
        return Err(ScimError::invalid_value(format!(
            "\"{}\" is required for a {}, so it cannot be removed; replace it with a new value instead",
            path.path_text(kind),
            kind.as_str()
        )));
    }
    Ok(())
}

/// Computes the new value of a single-valued attribute.
fn change_single(
    kind: ResourceKind,
    def: &AttrDef,
    operation: &PatchOperation,
    current: Option<Value>,
) -> Result<Option<Value>, ScimError> {
    let attr = &operation.path.attr;
    match attr.sub.as_deref() {
        // `manager.value` carries the same id as `manager`, in any shape.
        Some(_) if is_manager(attr) => change_whole(kind, def, operation, current),
        Some(sub) => change_sub(kind, def, sub, operation, current),
        None => change_whole(kind, def, operation, current),
    }
}

fn change_whole(
    kind: ResourceKind,
    def: &AttrDef,
    operation: &PatchOperation,
    current: Option<Value>,
) -> Result<Option<Value>, ScimError> {
    let attr = &operation.path.attr;
    let value = operation.value.clone().unwrap_or(Value::Null);
    match operation.op {
        PatchOp::Remove => {
            let requested = normalize_value(kind, attr, def, value)?;
            Ok(
                if should_remove(current.as_ref(), requested.as_ref(), def.case_exact) {
                    None
                } else {
                    current
                },
            )
        }
        // RFC 7644 §3.5.2.1 and §3.5.2.3: add and replace on a complex
        // attribute change only the sub-attributes in the value.
        _ if def.kind == AttrType::Complex && !is_manager(attr) => {
            merge_complex(def, &operation.path.path_text(kind), current, value)
        }
        // `""` and null clear the attribute. Microsoft's SCIM validator
        // (SCIM_Null_Update_Test) patches attributes to "" and then to null
        // and expects them to read back empty.
        _ => normalize_value(kind, attr, def, value),
    }
}

/// Merges the sub-attributes of `value` into a single-valued complex value.
/// An empty sub-attribute value removes that sub-attribute.
fn merge_complex(
    def: &AttrDef,
    path: &str,
    current: Option<Value>,
    value: Value,
) -> Result<Option<Value>, ScimError> {
    let fields = match value {
        Value::Null => return Ok(None),
        Value::String(text) if text.is_empty() => return Ok(None),
        Value::Object(fields) => fields,
        other => {
            return Err(ScimError::invalid_value(format!(
                "\"{path}\" must be an object of sub-attributes, not {}",
                resource::json_type(&other)
            )));
        }
    };
    let mut merged = current;
    for (name, sub_value) in normalize_sub_values(def, path, fields)? {
        merged = set_sub_attribute(merged, name, sub_value);
    }
    Ok(merged)
}

fn change_sub(
    kind: ResourceKind,
    def: &AttrDef,
    sub: &str,
    operation: &PatchOperation,
    current: Option<Value>,
) -> Result<Option<Value>, ScimError> {
    let path = operation.path.path_text(kind);
    let sub_def = sub_definition(def, sub, &path)?;
    let value = operation.value.clone().unwrap_or(Value::Null);
    let requested = normalize_simple(sub_def, &path, value)?;
    if operation.op != PatchOp::Remove {
        return Ok(set_sub_attribute(current, sub_def.name, requested));
    }
    let stored = current.as_ref().and_then(|object| object.get(sub_def.name));
    if should_remove(stored, requested.as_ref(), sub_def.case_exact) {
        Ok(set_sub_attribute(current, sub_def.name, None))
    } else {
        Ok(current)
    }
}

/// Decides a `remove` that may carry a value. RFC 7644 §3.5.2.2 does not
/// define a value on a single-valued target, so Lockgate reads it as "clear
/// if equal": a stale remove then cannot erase a newer value.
pub(super) fn should_remove(
    stored: Option<&Value>,
    requested: Option<&Value>,
    case_exact: bool,
) -> bool {
    match (stored, requested) {
        (Some(stored), Some(requested)) => values_equal(stored, requested, case_exact),
        _ => true,
    }
}

/// Compares stored and requested values, ignoring case for strings of
/// attributes that are not caseExact (RFC 7643 §2.2).
pub(super) fn values_equal(stored: &Value, requested: &Value, case_exact: bool) -> bool {
    match (stored, requested) {
        (Value::String(a), Value::String(b)) if !case_exact => a.to_lowercase() == b.to_lowercase(),
        _ => stored == requested,
    }
}
