//! From filter text to the resolved [`Filter`] algebra.
//!
//! `scim_v2` parses RFC 7644 §3.4.2.2 filter text, including `not`, grouping
//! and value paths, and bounds its depth and term count. Two things go beyond
//! it here: Entra's matching query `emails[type eq "work"].value eq "x"`, a
//! value path followed by a sub-attribute, which the RFC grammar does not
//! contain and which is rewritten to `emails[type eq "work" and value eq "x"]`
//! before parsing; and resolution of every name against the schema.

use scim_v2::filter as ast;

use super::{AttrRef, CompareOp, Filter, Literal};
use crate::error::ScimError;
use crate::schema::{
    AttrDef, AttrType, CUSTOM_ATTRIBUTE, ENTERPRISE_USER_ATTRIBUTES, ResourceKind, SchemaRef,
};

/// Parses and resolves a `filter` query parameter.
pub fn parse_filter(kind: ResourceKind, text: &str) -> Result<Filter, ScimError> {
    let rewritten = rewrite_trailing_sub_attributes(text)?;
    let parsed = rewritten.parse::<ast::Filter>().map_err(|e| {
        // The grammar's own message for a missing value lists the very
        // operator it rejects among those it expects, so that case gets
        // a message of its own.
        let grammar = e.to_string();
        let problem = match trailing_operator(text) {
            Some(op) if grammar.contains(&format!("token `{op}`")) => {
                format!("the operator \"{op}\" at the end has no value")
            }
            _ => grammar,
        };
        ScimError::invalid_filter(format!(
            "filter {text:?} is not valid RFC 7644 filter syntax ({problem}); \
             write it like userName eq \"mira@example.com\""
        ))
    })?;
    resolve(kind, &parsed)
}

/// Returns the comparison operator that ends `text`, as in `userName eq`.
fn trailing_operator(text: &str) -> Option<&str> {
    const OPERATORS: [&str; 9] = ["eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le"];
    let mut words = text.split_whitespace().rev();
    let last = words.next()?;
    words.next()?;
    OPERATORS
        .iter()
        .any(|op| op.eq_ignore_ascii_case(last))
        .then_some(last)
}

/// Resolves the filter inside a PATCH value path such as `emails[type eq "work"]`
/// against the multi-valued attribute `parent`.
pub fn parse_element_filter(
    kind: ResourceKind,
    parent: &AttrRef,
    filter: &ast::ValFilter,
) -> Result<Filter, ScimError> {
    resolve_val_filter(kind, parent, filter).map_err(|e| ScimError::invalid_path(e.detail))
}

fn resolve(kind: ResourceKind, filter: &ast::Filter) -> Result<Filter, ScimError> {
    Ok(match filter {
        ast::Filter::Attr(exp) => resolve_exp(kind, exp, None)?,
        ast::Filter::ValuePath(vp) => {
            let parent = resolve_attr(
                kind,
                vp.attr.uri.as_deref(),
                &vp.attr.name,
                vp.attr.sub_attr.as_deref(),
            )
            .map_err(ScimError::invalid_filter)?;
            if parent.kind != AttrType::Complex {
                return Err(ScimError::invalid_filter(format!(
                    "\"{}\" has no sub-attributes, so it cannot take a [filter]",
                    parent.path(kind)
                )));
            }
            Filter::Element(
                parent.clone(),
                Box::new(resolve_val_filter(kind, &parent, &vp.filter)?),
            )
        }
        ast::Filter::Not(inner) => Filter::Not(Box::new(resolve(kind, inner)?)),
        ast::Filter::And(items) => {
            flatten(true, items.as_slice().iter().map(|i| resolve(kind, i)))?
        }
        ast::Filter::Or(items) => {
            flatten(false, items.as_slice().iter().map(|i| resolve(kind, i)))?
        }
    })
}

fn resolve_val_filter(
    kind: ResourceKind,
    parent: &AttrRef,
    filter: &ast::ValFilter,
) -> Result<Filter, ScimError> {
    Ok(match filter {
        ast::ValFilter::Attr(exp) => resolve_exp(kind, exp, Some(parent))?,
        ast::ValFilter::Not(inner) => {
            Filter::Not(Box::new(resolve_val_filter(kind, parent, inner)?))
        }
        ast::ValFilter::And(items) => flatten(
            true,
            items
                .as_slice()
                .iter()
                .map(|i| resolve_val_filter(kind, parent, i)),
        )?,
        ast::ValFilter::Or(items) => flatten(
            false,
            items
                .as_slice()
                .iter()
                .map(|i| resolve_val_filter(kind, parent, i)),
        )?,
    })
}

/// Builds an n-ary `and`/`or`, merging same-operator children so that one
/// filter has one tree however it was grouped.
fn flatten(
    and: bool,
    items: impl Iterator<Item = Result<Filter, ScimError>>,
) -> Result<Filter, ScimError> {
    let mut out = Vec::new();
    for item in items {
        match (item?, and) {
            (Filter::And(inner), true) | (Filter::Or(inner), false) => out.extend(inner),
            (other, _) => out.push(other),
        }
    }
    Ok(if and {
        Filter::And(out)
    } else {
        Filter::Or(out)
    })
}

fn resolve_exp(
    kind: ResourceKind,
    exp: &ast::AttrExp,
    parent: Option<&AttrRef>,
) -> Result<Filter, ScimError> {
    let path = match exp {
        ast::AttrExp::Present(p) | ast::AttrExp::Comparison(p, _, _) => p,
    };
    let attr = match parent {
        None => resolve_attr(
            kind,
            path.uri.as_deref(),
            &path.name,
            path.sub_attr.as_deref(),
        ),
        Some(parent) => resolve_in_element(kind, parent, path),
    }
    .map_err(ScimError::invalid_filter)?;

    match exp {
        ast::AttrExp::Present(_) => Ok(Filter::Present(attr)),
        ast::AttrExp::Comparison(_, op, value) => {
            // RFC 7644 §3.4.2.2: a comparison on a multi-valued complex
            // attribute without a sub-attribute compares its `value`.
            let attr = if attr.kind == AttrType::Complex && attr.sub.is_none() {
                resolve_attr(
                    kind,
                    schema_urn(kind, &attr).as_deref(),
                    &attr.name,
                    Some("value"),
                )
                .map_err(ScimError::invalid_filter)?
            } else {
                attr
            };
            let op = convert_op(op);
            let literal = check_literal(kind, &attr, op, value)?;
            Ok(Filter::Compare(attr, op, literal))
        }
    }
}

fn schema_urn(kind: ResourceKind, attr: &AttrRef) -> Option<String> {
    match attr.schema {
        SchemaRef::Core => None,
        ref other => Some(other.urn(kind).to_string()),
    }
}

fn resolve_in_element(
    kind: ResourceKind,
    parent: &AttrRef,
    path: &ast::AttrPath,
) -> Result<AttrRef, String> {
    let sub = match (&path.uri, &path.sub_attr) {
        (None, None) => path.name.as_str(),
        (None, Some(sub)) if path.name.eq_ignore_ascii_case(&parent.name) => sub.as_str(),
        _ => {
            return Err(format!(
                "inside {}[...] name a sub-attribute such as type or value, not \"{path}\"",
                parent.path(kind)
            ));
        }
    };
    resolve_attr(
        kind,
        schema_urn(kind, parent).as_deref(),
        &parent.name,
        Some(sub),
    )
}

/// Resolves `[urn:]name[.sub]` against the schema of `kind`, returning a
/// message that names the attribute when it does not exist.
pub fn resolve_attr(
    kind: ResourceKind,
    urn: Option<&str>,
    name: &str,
    sub: Option<&str>,
) -> Result<AttrRef, String> {
    let schema = SchemaRef::from_urn(kind, urn)?;
    let def: &AttrDef = match &schema {
        SchemaRef::Core => kind.core_attribute(name),
        SchemaRef::Enterprise => ENTERPRISE_USER_ATTRIBUTES
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name)),
        SchemaRef::Custom(_) => Some(&CUSTOM_ATTRIBUTE),
    }
    .ok_or_else(|| {
        format!(
            "attribute \"{name}\" is not in the {} schema; GET /Schemas lists the supported attributes",
            schema.urn(kind)
        )
    })?;
    let canonical = if matches!(schema, SchemaRef::Custom(_)) {
        name.to_string()
    } else {
        def.name.to_string()
    };

    let (sub, leaf) = match sub {
        None => (None, def),
        Some(sub) => {
            let sub_def = def.sub_attribute(sub).ok_or_else(|| {
                format!("attribute \"{canonical}\" has no sub-attribute \"{sub}\"")
            })?;
            (Some(sub_def.name.to_string()), sub_def)
        }
    };
    Ok(AttrRef {
        schema,
        name: canonical,
        sub,
        kind: leaf.kind,
        case_exact: leaf.case_exact,
        multi_valued: def.multi_valued,
    })
}

fn convert_op(op: &ast::CompareOp) -> CompareOp {
    match op {
        ast::CompareOp::Eq => CompareOp::Eq,
        ast::CompareOp::Ne => CompareOp::Ne,
        ast::CompareOp::Co => CompareOp::Co,
        ast::CompareOp::Sw => CompareOp::Sw,
        ast::CompareOp::Ew => CompareOp::Ew,
        ast::CompareOp::Gt => CompareOp::Gt,
        ast::CompareOp::Ge => CompareOp::Ge,
        ast::CompareOp::Lt => CompareOp::Lt,
        ast::CompareOp::Le => CompareOp::Le,
    }
}

/// Checks a comparison value against the attribute type (RFC 7644 §3.4.2.2:
/// boolean and binary attributes allow only `eq` and `ne`).
fn check_literal(
    kind: ResourceKind,
    attr: &AttrRef,
    op: CompareOp,
    value: &ast::CompValue,
) -> Result<Literal, ScimError> {
    let path = attr.path(kind);
    let is_custom = matches!(attr.schema, SchemaRef::Custom(_));
    let literal = match value {
        ast::CompValue::Str(s) => Literal::Str(s.clone()),
        ast::CompValue::True => Literal::Bool(true),
        ast::CompValue::False => Literal::Bool(false),
        ast::CompValue::Number(n) => Literal::Number(n.to_string()),
        ast::CompValue::Null => Literal::Null,
    };
    if literal == Literal::Null && !matches!(op, CompareOp::Eq | CompareOp::Ne) {
        return Err(ScimError::invalid_filter(format!(
            "\"{path} {} null\" is not allowed; null compares only with eq or ne",
            op.as_str()
        )));
    }
    if attr.kind == AttrType::Boolean {
        if !matches!(op, CompareOp::Eq | CompareOp::Ne) {
            return Err(ScimError::invalid_filter(format!(
                "\"{path}\" is boolean, so only eq and ne apply, not {}",
                op.as_str()
            )));
        }
        return match literal {
            Literal::Str(s) => parse_bool_text(&s).map(Literal::Bool).ok_or_else(|| {
                ScimError::invalid_filter(format!(
                    "\"{path}\" is boolean; compare it with true or false, not {s:?}"
                ))
            }),
            Literal::Number(n) => Err(ScimError::invalid_filter(format!(
                "\"{path}\" is boolean; compare it with true or false, not {n}"
            ))),
            other => Ok(other),
        };
    }
    match literal {
        Literal::Bool(_) | Literal::Number(_) if !is_custom => {
            Err(ScimError::invalid_filter(format!(
                "\"{path}\" is a {}; put the value in double quotes",
                attr.kind.as_str()
            )))
        }
        other => Ok(other),
    }
}

/// Entra sends booleans as the strings "True" and "False"; any case is accepted.
pub(crate) fn parse_bool_text(s: &str) -> Option<bool> {
    if s.eq_ignore_ascii_case("true") {
        Some(true)
    } else if s.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// Rewrites `attr[inner].sub OP value` to `attr[(inner) and sub OP value]`.
fn rewrite_trailing_sub_attributes(text: &str) -> Result<String, ScimError> {
    let mut text = text.to_string();
    // Each pass removes one `].` outside string literals, so the loop ends.
    while let Some((open, close)) = find_value_path_with_sub(&text) {
        let after = &text[close + 2..];
        let sub_len = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
            .unwrap_or(after.len());
        let sub = &after[..sub_len];
        let rest = &after[sub_len..];
        let expr_len = comparison_len(rest).ok_or_else(|| {
            ScimError::invalid_filter(format!(
                "filter {text:?}: after \"].{sub}\" expected an operator and a value, \
                 as in emails[type eq \"work\"].value eq \"mira@example.com\""
            ))
        })?;
        let inner = &text[open + 1..close];
        let replaced = format!(
            "{}[({inner}) and {sub}{}]{}",
            &text[..open],
            &rest[..expr_len],
            &rest[expr_len..]
        );
        text = replaced;
    }
    Ok(text)
}

/// Finds the first `[ ... ].` outside string literals: positions of `[` and `]`.
fn find_value_path_with_sub(text: &str) -> Option<(usize, usize)> {
    let bytes = text.as_bytes();
    let mut in_string = false;
    let mut escaped = false;
    let mut open = None;
    for (i, &b) in bytes.iter().enumerate() {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' => open = Some(i),
            b']' if bytes.get(i + 1) == Some(&b'.') => {
                if let Some(open) = open {
                    return Some((open, i));
                }
            }
            _ => {}
        }
    }
    None
}

/// Length of ` OP value` (or ` pr`) at the start of `rest`.
fn comparison_len(rest: &str) -> Option<usize> {
    let trimmed = rest.trim_start();
    let ws = rest.len() - trimmed.len();
    if ws == 0 {
        return None;
    }
    let op_len = trimmed
        .find(|c: char| c.is_whitespace() || c == ')' || c == ']')
        .unwrap_or(trimmed.len());
    let op = &trimmed[..op_len];
    if op.eq_ignore_ascii_case("pr") {
        return Some(ws + op_len);
    }
    const OPS: [&str; 9] = ["eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le"];
    if !OPS.iter().any(|o| o.eq_ignore_ascii_case(op)) {
        return None;
    }
    let after_op = &trimmed[op_len..];
    let value = after_op.trim_start();
    let ws2 = after_op.len() - value.len();
    if ws2 == 0 || value.is_empty() {
        return None;
    }
    let value_len = if value.starts_with('"') {
        let mut escaped = false;
        let mut end = None;
        for (i, c) in value.char_indices().skip(1) {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => {
                    end = Some(i + 1);
                    break;
                }
                _ => {}
            }
        }
        end?
    } else {
        value
            .find(|c: char| c.is_whitespace() || c == ')' || c == ']')
            .unwrap_or(value.len())
    };
    Some(ws + op_len + ws2 + value_len)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(text: &str) -> Filter {
        parse_filter(ResourceKind::User, text).unwrap()
    }

    #[test]
    fn entra_probe_and_match_queries_parse() {
        let f = user("userName eq \"04b5a2de-6e44-4c3e-9b0c-6f1d8d2f7a11\"");
        let Filter::Compare(attr, CompareOp::Eq, Literal::Str(v)) = f else {
            panic!("{f:?}")
        };
        assert_eq!(attr.name, "userName");
        assert!(!attr.case_exact);
        assert_eq!(v, "04b5a2de-6e44-4c3e-9b0c-6f1d8d2f7a11");

        let f = user("externalId eq \"a3c1\"");
        let Filter::Compare(attr, _, _) = f else {
            panic!()
        };
        assert!(attr.case_exact, "externalId is caseExact in RFC 7643");
    }

    #[test]
    fn value_path_with_trailing_sub_attribute_is_rewritten() {
        let f = user("emails[type eq \"work\"].value eq \"mira@lockers.example\"");
        let Filter::Element(parent, inner) = f else {
            panic!("{f:?}")
        };
        assert_eq!(parent.name, "emails");
        let Filter::And(items) = *inner else { panic!() };
        assert_eq!(items.len(), 2);
        assert!(
            matches!(&items[1], Filter::Compare(a, CompareOp::Eq, Literal::Str(s))
            if a.sub.as_deref() == Some("value") && s == "mira@lockers.example")
        );
    }

    #[test]
    fn brackets_inside_strings_are_not_value_paths() {
        let f = user("displayName eq \"a].b\"");
        assert!(matches!(f, Filter::Compare(_, CompareOp::Eq, Literal::Str(s)) if s == "a].b"));
    }

    #[test]
    fn attribute_names_resolve_case_insensitively() {
        let f = user("USERNAME eq \"x\" and NAME.GIVENNAME sw \"M\"");
        let Filter::And(items) = f else { panic!() };
        assert!(matches!(&items[0], Filter::Compare(a, _, _) if a.name == "userName"));
        assert!(matches!(&items[1], Filter::Compare(a, _, _)
            if a.name == "name" && a.sub.as_deref() == Some("givenName")));
    }

    #[test]
    fn enterprise_and_custom_extension_attributes_resolve() {
        let f = user(
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq \"Depot\"",
        );
        assert!(matches!(f, Filter::Compare(a, _, _) if a.schema == SchemaRef::Enterprise));
        let f = user(
            "urn:ietf:params:scim:schemas:extension:lockgate:2.0:User:badgeNumber eq \"0A1B\"",
        );
        assert!(matches!(f, Filter::Compare(a, _, _) if matches!(a.schema, SchemaRef::Custom(_))));
    }

    #[test]
    fn unknown_attribute_is_invalid_filter() {
        let err = parse_filter(ResourceKind::User, "shoeSize eq \"9\"").unwrap_err();
        assert_eq!(err.status, 400);
        assert_eq!(err.scim_type, Some(crate::error::ScimType::InvalidFilter));
        assert!(err.detail.contains("shoeSize"), "{}", err.detail);
    }

    #[test]
    fn boolean_accepts_string_but_not_ordering() {
        let f = user("active eq \"True\"");
        assert!(matches!(f, Filter::Compare(_, _, Literal::Bool(true))));
        let err = parse_filter(ResourceKind::User, "active gt true").unwrap_err();
        assert_eq!(err.scim_type, Some(crate::error::ScimType::InvalidFilter));
    }

    #[test]
    fn complex_multi_valued_comparison_defaults_to_value() {
        let f = user("emails co \"@lockers.example\"");
        assert!(
            matches!(f, Filter::Compare(a, CompareOp::Co, _) if a.sub.as_deref() == Some("value"))
        );
    }

    #[test]
    fn missing_value_is_named() {
        let err = parse_filter(ResourceKind::User, "userName EQ").unwrap_err();
        let detail = err.detail;
        assert!(
            detail.contains("the operator \"EQ\" at the end has no value"),
            "{detail}"
        );
        assert!(!detail.contains("Expected one of"), "{detail}");

        // A filter that ends in a value keeps the grammar's message, and so
        // does one whose first error comes before a trailing operator.
        for text in ["userName xx \"eq\"", "userName xx \"a\" and title eq"] {
            let err = parse_filter(ResourceKind::User, text).unwrap_err();
            assert!(!err.detail.contains("has no value"), "{text}: {err:?}");
            assert!(err.detail.contains("`xx`"), "{text}: {err:?}");
        }
    }

    #[test]
    fn malformed_filters_are_rejected() {
        for text in [
            "",
            "userName eq",
            "userName xx \"a\"",
            "(userName eq \"a\"",
            "emails[type eq \"w\"].value",
        ] {
            let err = parse_filter(ResourceKind::User, text).unwrap_err();
            assert_eq!(
                err.scim_type,
                Some(crate::error::ScimType::InvalidFilter),
                "{text}"
            );
        }
    }
}
