//! Operations on a Group's `members`, which change member rows instead of
//! the stored document.
//!
//! Entra removes a member in two shapes. Without the `aadOptscim062020` flag
//! it sends `{"op":"Remove","path":"members","value":[{"value":"<id>"}]}`,
//! which a strict reading of RFC 7644 §3.5.2.2 (no filter, so remove all)
//! would turn into "remove every member". With the flag it sends
//! `{"op":"remove","path":"members[value eq \"<id>\"]"}`. Both remove exactly
//! the listed ids here. Only a remove of `members` without a value removes
//! every member.

use serde_json::Value;

use super::{MemberChange, PatchOp, PatchOperation};
use crate::error::ScimError;
use crate::filter::{self, CompareOp, Filter, Literal};
use crate::resource::parse_members;
use crate::schema::ResourceKind;

/// Converts one operation on `members` into a member change; `None` when it
/// changes nothing, such as an add of an empty array.
pub(super) fn member_change(operation: &PatchOperation) -> Result<Option<MemberChange>, ScimError> {
    if let Some(sub) = &operation.path.attr.sub {
        return Err(ScimError::invalid_path(format!(
            "\"members.{sub}\" cannot be patched; add or remove members with path \"members\" \
             and a value array, or remove one with members[value eq \"<id>\"]"
        )));
    }
    let value = operation.value.clone();
    match (operation.op, &operation.path.filter) {
        (PatchOp::Remove, Some(filter)) => Ok(Some(MemberChange::Remove(selected_ids(filter)?))),
        (PatchOp::Remove, None) => remove_listed(value),
        (_, Some(_)) => Err(ScimError::invalid_path(format!(
            "a [filter] on \"members\" works only with remove; {} members with path \"members\" \
             and a value array",
            operation.op.as_str()
        ))),
        (PatchOp::Add, None) => {
            let members = parse_members(value.unwrap_or(Value::Null))?;
            Ok((!members.is_empty()).then_some(MemberChange::Add(members)))
        }
        (PatchOp::Replace, None) => {
            let value = match value {
                Some(Value::String(text)) if text.is_empty() => Value::Null,
                other => other.unwrap_or(Value::Null),
            };
            Ok(Some(MemberChange::Replace(parse_members(value)?)))
        }
    }
}

/// Converts a remove on path `members`. With a value it removes exactly the
/// listed members, as Entra's default dialect expects. Without one it removes
/// every member (RFC 7644 §3.5.2.2), and a JSON null value counts as none.
fn remove_listed(value: Option<Value>) -> Result<Option<MemberChange>, ScimError> {
    let Some(value) = value.filter(|value| !value.is_null()) else {
        return Ok(Some(MemberChange::RemoveAll));
    };
    let ids: Vec<String> = parse_members(value)?
        .into_iter()
        .map(|member| member.value)
        .collect();
    Ok((!ids.is_empty()).then_some(MemberChange::Remove(ids)))
}

/// Reads the ids from `value eq "<id>"`, or several such terms joined by
/// `or`. Other member filters would need the member rows, which this layer
/// does not have.
fn selected_ids(filter: &Filter) -> Result<Vec<String>, ScimError> {
    let terms: Vec<&Filter> = match filter {
        Filter::Or(items) => items.iter().collect(),
        other => vec![other],
    };
    let mut ids: Vec<String> = Vec::new();
    for term in terms {
        let id = value_eq_id(term).ok_or_else(|| unsupported_filter(filter))?;
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    Ok(ids)
}

fn value_eq_id(term: &Filter) -> Option<String> {
    match term {
        Filter::Compare(attr, CompareOp::Eq, Literal::Str(id))
            if attr.sub.as_deref() == Some("value") && !id.is_empty() =>
        {
            Some(id.clone())
        }
        _ => None,
    }
}

fn unsupported_filter(filter: &Filter) -> ScimError {
    let text = filter::Display {
        filter,
        kind: ResourceKind::Group,
        in_element: true,
    };
    ScimError::invalid_filter(format!(
        "members[{text}] is not supported: select members with value eq \"<id>\", \
         joined with or for several"
    ))
}
