//! Evaluates an element filter, the part inside `attr[...]`, against one
//! element of a multi-valued attribute held in memory. PATCH uses this for
//! paths such as `emails[type eq "work"].value` and `members[value eq "id"]`.

use serde_json::Value;

use super::{CompareOp, Filter, Literal};

/// Whether `element` (a JSON object) satisfies `filter`, whose references
/// are sub-attributes of the element's attribute.
pub fn element_matches(filter: &Filter, element: &Value) -> bool {
    match filter {
        Filter::And(items) => items.iter().all(|f| element_matches(f, element)),
        Filter::Or(items) => items.iter().any(|f| element_matches(f, element)),
        Filter::Not(inner) => !element_matches(inner, element),
        Filter::Present(attr) => attr
            .sub
            .as_deref()
            .and_then(|sub| field(element, sub))
            .is_some_and(is_present),
        Filter::Compare(attr, op, literal) => {
            let value = attr.sub.as_deref().and_then(|sub| field(element, sub));
            compare(value, *op, literal, attr.case_exact)
        }
        // Nested value paths are not part of the element grammar.
        Filter::Element(..) => false,
    }
}

/// Looks a key up in a JSON object ignoring case (RFC 7643 §2.1).
pub(crate) fn field<'a>(object: &'a Value, name: &str) -> Option<&'a Value> {
    object
        .as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

fn is_present(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
        _ => true,
    }
}

fn compare(value: Option<&Value>, op: CompareOp, literal: &Literal, case_exact: bool) -> bool {
    let absent = value.is_none_or(|v| !is_present(v));
    match literal {
        Literal::Null => match op {
            CompareOp::Eq => absent,
            _ => !absent,
        },
        Literal::Bool(b) => {
            let actual = match value {
                Some(Value::Bool(v)) => Some(*v),
                Some(Value::String(s)) => super::parse::parse_bool_text(s),
                _ => None,
            };
            match op {
                CompareOp::Eq => actual == Some(*b),
                CompareOp::Ne => actual != Some(*b),
                _ => false,
            }
        }
        Literal::Str(expected) | Literal::Number(expected) => {
            let actual = match value {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Number(n)) => n.to_string(),
                Some(Value::Bool(b)) => b.to_string(),
                _ => return op == CompareOp::Ne,
            };
            let (actual, expected) = if case_exact {
                (actual, expected.clone())
            } else {
                (actual.to_lowercase(), expected.to_lowercase())
            };
            match op {
                CompareOp::Eq => actual == expected,
                CompareOp::Ne => actual != expected,
                CompareOp::Co => actual.contains(&expected),
                CompareOp::Sw => actual.starts_with(&expected),
                CompareOp::Ew => actual.ends_with(&expected),
                CompareOp::Gt => actual > expected,
                CompareOp::Ge => actual >= expected,
                CompareOp::Lt => actual < expected,
                CompareOp::Le => actual <= expected,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::filter::parse_filter;
    use crate::schema::ResourceKind;

    fn inner(text: &str) -> Filter {
        match parse_filter(ResourceKind::User, text).unwrap() {
            Filter::Element(_, inner) => *inner,
            other => panic!("not a value path: {other:?}"),
        }
    }

    #[test]
    fn type_match_ignores_case() {
        let f = inner("emails[type eq \"WORK\"]");
        assert!(element_matches(
            &f,
            &json!({"type": "work", "value": "a@x"})
        ));
        assert!(!element_matches(
            &f,
            &json!({"type": "home", "value": "a@x"})
        ));
    }

    #[test]
    fn boolean_and_presence() {
        let f = inner("emails[primary eq true and value pr]");
        assert!(element_matches(
            &f,
            &json!({"primary": true, "value": "a@x"})
        ));
        assert!(element_matches(
            &f,
            &json!({"primary": "True", "value": "a@x"})
        ));
        assert!(!element_matches(&f, &json!({"primary": true, "value": ""})));
        assert!(!element_matches(&f, &json!({"value": "a@x"})));
    }

    #[test]
    fn not_and_or() {
        let f = inner("emails[not (type eq \"work\") or value ew \"@home.example\"]");
        assert!(element_matches(&f, &json!({"type": "home"})));
        assert!(element_matches(
            &f,
            &json!({"type": "work", "value": "a@home.example"})
        ));
        assert!(!element_matches(
            &f,
            &json!({"type": "work", "value": "a@work.example"})
        ));
    }
}
