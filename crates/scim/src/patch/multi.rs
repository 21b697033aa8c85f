//! PATCH on multi-valued complex attributes such as `emails`, `phoneNumbers`
//! and `addresses`, with and without a value filter (RFC 7644 §3.5.2).

use serde_json::{Map, Value};

use super::apply::{should_remove, values_equal};
use super::{PatchOp, PatchOperation};
use crate::error::ScimError;
use crate::filter::{CompareOp, Filter, Literal, element_matches};
use crate::resource::{
    add_default_type, has_data, json_type, normalize_element, normalize_multi, normalize_simple,
    normalize_sub_values, sub_definition,
};
use crate::schema::{AttrDef, ResourceKind};

/// The attribute an operation targets, with its path text for messages.
struct Target<'a> {
    def: &'a AttrDef,
    path: String,
    filter: Option<&'a Filter>,
}

/// Computes the new value of a multi-valued attribute; `None` when no
/// element is left.
pub(super) fn change(
    kind: ResourceKind,
    def: &AttrDef,
    operation: &PatchOperation,
    current: Option<Value>,
) -> Result<Option<Value>, ScimError> {
    let mut elements = match current {
        Some(Value::Array(items)) => items,
        _ => Vec::new(),
    };
    let target = Target {
        def,
        path: operation.path.path_text(kind),
        filter: operation.path.filter.as_ref(),
    };
    let value = operation.value.clone();
    match (operation.path.attr.sub.as_deref(), target.filter) {
        (None, None) => change_all(&target, operation.op, value, &mut elements)?,
        (Some(sub), _) => change_sub(&target, sub, operation.op, value, &mut elements)?,
        (None, Some(_)) => change_selected(&target, operation.op, value, &mut elements)?,
    }
    Ok((!elements.is_empty()).then_some(Value::Array(elements)))
}

/// Applies an operation on a path without filter or sub-attribute. Add
/// appends, replace replaces every value, and remove without a value removes
/// every value.
fn change_all(
    target: &Target,
    op: PatchOp,
    value: Option<Value>,
    elements: &mut Vec<Value>,
) -> Result<(), ScimError> {
    let value = value.unwrap_or(Value::Null);
    match op {
        PatchOp::Add if is_clear(&value) => elements.clear(),
        PatchOp::Add => {
            // An add whose elements are all empty, such as `[]`, adds nothing.
            if let Some(Value::Array(added)) = normalize_multi(target.def, &target.path, value)? {
                append_new(elements, added);
            }
        }
        PatchOp::Replace => {
            *elements = match normalize_multi(target.def, &target.path, value)? {
                Some(Value::Array(items)) => items,
                _ => Vec::new(),
            };
        }
        PatchOp::Remove if value.is_null() => elements.clear(),
        PatchOp::Remove => {
            let patterns = patterns(target, value)?;
            elements.retain(|element| {
                !patterns
                    .iter()
                    .any(|p| matches_pattern(target.def, element, p))
            });
        }
    }
    Ok(())
}

/// Appends the elements that are not already present (RFC 7644 §3.5.2.1:
/// adding an existing value changes nothing).
fn append_new(elements: &mut Vec<Value>, added: Vec<Value>) {
    for element in added {
        if !elements.contains(&element) {
            elements.push(element);
            let last = elements.len() - 1;
            keep_one_primary(elements, last);
        }
    }
}

/// Applies an operation on a path with a sub-attribute, such as
/// `emails[type eq "work"].value`, or `emails.value` which selects every element.
fn change_sub(
    target: &Target,
    sub: &str,
    op: PatchOp,
    value: Option<Value>,
    elements: &mut Vec<Value>,
) -> Result<(), ScimError> {
    let sub_def = sub_definition(target.def, sub, &target.path)?;
    let requested = normalize_simple(sub_def, &target.path, value.unwrap_or(Value::Null))?;
    let selected = select(elements, target.filter);

    if op == PatchOp::Remove {
        for &index in &selected {
            let Some(element) = elements[index].as_object_mut() else {
                continue;
            };
            if should_remove(
                element.get(sub_def.name),
                requested.as_ref(),
                sub_def.case_exact,
            ) {
                element.shift_remove(sub_def.name);
            }
        }
        drop_emptied(elements, &selected);
        return Ok(());
    }

    if selected.is_empty() {
        return match requested {
            Some(requested) => create(target, elements, vec![(sub_def.name, requested)]),
            None => Ok(()),
        };
    }
    for &index in &selected {
        if let Some(element) = elements[index].as_object_mut() {
            set_or_remove(element, sub_def.name, requested.clone());
        }
    }
    keep_one_primary(elements, selected[0]);
    drop_emptied(elements, &selected);
    Ok(())
}

/// Applies an operation on a filtered path without a sub-attribute, such as
/// `emails[type eq "work"]`. Add and replace merge the value into each
/// matching element, and remove deletes the matching elements.
fn change_selected(
    target: &Target,
    op: PatchOp,
    value: Option<Value>,
    elements: &mut Vec<Value>,
) -> Result<(), ScimError> {
    let value = value.unwrap_or(Value::Null);
    let selected = select(elements, target.filter);

    if op == PatchOp::Remove || is_clear(&value) {
        let patterns = if op == PatchOp::Remove && !value.is_null() {
            patterns(target, value)?
        } else {
            Vec::new()
        };
        let mut index = 0;
        elements.retain(|element| {
            let chosen = selected.contains(&index)
                && (patterns.is_empty()
                    || patterns
                        .iter()
                        .any(|p| matches_pattern(target.def, element, p)));
            index += 1;
            !chosen
        });
        return Ok(());
    }

    let entries = normalize_sub_values(target.def, &target.path, single_object(target, value)?)?;
    if selected.is_empty() {
        let present = entries
            .into_iter()
            .filter_map(|(name, v)| v.map(|v| (name, v)));
        return create(target, elements, present.collect());
    }
    for &index in &selected {
        if let Some(element) = elements[index].as_object_mut() {
            for (name, sub_value) in &entries {
                set_or_remove(element, name, sub_value.clone());
            }
        }
    }
    keep_one_primary(elements, selected[0]);
    drop_emptied(elements, &selected);
    Ok(())
}

/// Creates the element a filtered add or replace addresses when no element
/// matches. RFC 7644 §3.5.2.3 requires 400 `noTarget` for a replace whose
/// filter matches nothing, but Entra's default mappings write
/// `emails[type eq "work"].value` with add or replace for users that have no
/// work email yet and expect the value to be created. The new element takes
/// the filter's `eq` terms, so the same path matches it next time, and is
/// primary when it is the only element.
fn create(
    target: &Target,
    elements: &mut Vec<Value>,
    entries: Vec<(&str, Value)>,
) -> Result<(), ScimError> {
    let mut element = Map::new();
    let described = target
        .filter
        .is_none_or(|filter| collect_eq_terms(filter, &mut element));
    for (name, value) in entries {
        element.insert(name.to_string(), value);
    }
    if !described || !has_data(&element) {
        return Err(ScimError::no_target(format!(
            "no value of \"{}\" matches, and the path does not describe a new value; \
             a filter made of eq terms joined by and, followed by .value, can create one",
            target.path
        )));
    }
    add_default_type(target.def, &mut element);
    let takes_primary = target.def.sub_attribute("primary").is_some();
    if elements.is_empty() && takes_primary && !element.contains_key("primary") {
        element.insert("primary".to_string(), Value::Bool(true));
    }
    elements.push(Value::Object(element));
    let last = elements.len() - 1;
    keep_one_primary(elements, last);
    Ok(())
}

/// Adds the sub-attribute values of an `a eq x and b eq y` filter to
/// `element`; returns false for any other filter.
fn collect_eq_terms(filter: &Filter, element: &mut Map<String, Value>) -> bool {
    match filter {
        Filter::And(items) => items.iter().all(|item| collect_eq_terms(item, element)),
        Filter::Compare(attr, CompareOp::Eq, literal) => {
            let value = match literal {
                Literal::Str(text) => Value::String(text.clone()),
                Literal::Bool(flag) => Value::Bool(*flag),
                Literal::Number(text) => match text.parse() {
                    Ok(number) => Value::Number(number),
                    Err(_) => return false,
                },
                Literal::Null => return false,
            };
            match &attr.sub {
                Some(sub) => {
                    element.insert(sub.clone(), value);
                    true
                }
                None => false,
            }
        }
        _ => false,
    }
}

/// Indexes of the elements the filter selects; every element without a filter.
fn select(elements: &[Value], filter: Option<&Filter>) -> Vec<usize> {
    elements
        .iter()
        .enumerate()
        .filter(|(_, element)| filter.is_none_or(|f| element_matches(f, element)))
        .map(|(index, _)| index)
        .collect()
}

/// Reads the value of a remove as elements to match. Each requested
/// sub-attribute must be equal in a stored element for it to match.
fn patterns(target: &Target, value: Value) -> Result<Vec<Map<String, Value>>, ScimError> {
    let items = match value {
        Value::Array(items) => items,
        other => vec![other],
    };
    let mut patterns = Vec::new();
    for item in items {
        if let Some(pattern) = normalize_element(target.def, &target.path, item, false)? {
            patterns.push(pattern);
        }
    }
    Ok(patterns)
}

fn matches_pattern(def: &AttrDef, element: &Value, pattern: &Map<String, Value>) -> bool {
    pattern.iter().all(|(name, expected)| {
        let case_exact = def.sub_attribute(name).is_some_and(|sub| sub.case_exact);
        element
            .get(name)
            .is_some_and(|stored| values_equal(stored, expected, case_exact))
    })
}

/// Accepts an object, or a one-element array of one, as the value merged
/// into filtered elements.
fn single_object(target: &Target, value: Value) -> Result<Map<String, Value>, ScimError> {
    match value {
        Value::Object(fields) => Ok(fields),
        Value::Array(mut items) if items.len() == 1 => match items.pop() {
            Some(Value::Object(fields)) => Ok(fields),
            _ => Err(not_an_object(target, "an array holding something else")),
        },
        other => Err(not_an_object(target, json_type(&other))),
    }
}

fn not_an_object(target: &Target, received: &str) -> ScimError {
    ScimError::invalid_value(format!(
        "\"{}\" selects whole values, so the value must be one object of sub-attributes, not {received}",
        target.path
    ))
}

fn is_clear(value: &Value) -> bool {
    value.is_null() || value.as_str().is_some_and(str::is_empty)
}

fn set_or_remove(element: &mut Map<String, Value>, name: &str, value: Option<Value>) {
    match value {
        Some(value) => {
            element.insert(name.to_string(), value);
        }
        None => {
            element.shift_remove(name);
        }
    }
}

/// Drops selected elements left with no data after a sub-attribute was
/// cleared, such as `{"type": "work"}` after its value was removed.
fn drop_emptied(elements: &mut Vec<Value>, selected: &[usize]) {
    let mut index = 0;
    elements.retain(|element| {
        let emptied =
            selected.contains(&index) && element.as_object().is_none_or(|object| !has_data(object));
        index += 1;
        !emptied
    });
}

/// RFC 7644 §3.5.2: setting `primary` to true on one value sets it to false
/// on the others.
fn keep_one_primary(elements: &mut [Value], chosen: usize) {
    let is_primary = |element: &Value| element.get("primary") == Some(&Value::Bool(true));
    if !elements.get(chosen).is_some_and(is_primary) {
        return;
    }
    for (index, element) in elements.iter_mut().enumerate() {
        if index != chosen && is_primary(element) {
            element["primary"] = Value::Bool(false);
        }
    }
}
