//! Property tests for the filter parser (RFC 7644 §3.4.2.2).
//!
//! `parse_filter` receives the `filter` query parameter verbatim, so it must
//! turn every string into either a filter or a 400 `invalidFilter` error.
//! The round-trip property checks that `Filter::display` writes text that
//! parses back to the same tree, which the store relies on when it logs or
//! re-sends a filter.

use lockgate_scim::error::ScimType;
use lockgate_scim::filter::{Filter, parse_filter};
use lockgate_scim::schema::{
    AttrDef, AttrType, ENTERPRISE_USER_ATTRIBUTES, ENTERPRISE_USER_URN, EXTERNAL_ID_ATTRIBUTE,
    ID_ATTRIBUTE, META_ATTRIBUTE, ResourceKind,
};
use proptest::prelude::*;
use proptest::sample::select;

const CUSTOM_URN: &str = "urn:ietf:params:scim:schemas:extension:lockgate:2.0:User";
const COMPARE_OPS: [&str; 9] = ["eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le"];

/// How a generated expression binds, so that an `or` inside an `and` gets
/// the parentheses that RFC 7644 §3.4.2.2 precedence requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Atom,
    And,
    Or,
}

type Expr = (String, Shape);

fn any_kind() -> impl Strategy<Value = ResourceKind> {
    prop_oneof![Just(ResourceKind::User), Just(ResourceKind::Group)]
}

/// Generates `text` with each ASCII letter in random case, because names,
/// URNs and operators are case-insensitive (RFC 7643 §2.1, RFC 7644 §3.4.2.2).
fn cased(text: &str) -> BoxedStrategy<String> {
    let text = text.to_string();
    proptest::collection::vec(any::<bool>(), text.len())
        .prop_map(move |upper| {
            text.chars()
                .zip(upper)
                .map(|(c, up)| {
                    if up {
                        c.to_ascii_uppercase()
                    } else {
                        c.to_ascii_lowercase()
                    }
                })
                .collect()
        })
        .boxed()
}

/// Generates one or two spaces, which the filter grammar allows around
/// operators.
fn space() -> BoxedStrategy<&'static str> {
    prop_oneof![4 => Just(" "), 1 => Just("  ")].boxed()
}

/// Generates characters for string literals: quotes, backslashes, brackets and
/// keywords that could confuse the parser, plus arbitrary Unicode.
fn literal_char() -> impl Strategy<Value = char> {
    prop_oneof![
        3 => proptest::char::range('a', 'z'),
        2 => select(vec![
            '"', '\\', '/', '[', ']', '(', ')', '.', ' ', ':', '\n', '\t', '\u{0}', 'é', 'ß', '中',
            '😀', '\u{2028}', '\u{feff}',
        ]),
        1 => any::<char>(),
    ]
}

/// Generates a JSON string literal. Each character is written either as
/// JSON escaping requires or as `\uXXXX` escapes (UTF-16, as in RFC 8259 §7).
fn string_literal() -> BoxedStrategy<String> {
    proptest::collection::vec((literal_char(), proptest::bool::weighted(0.2)), 0..12)
        .prop_map(|chars| {
            let mut out = String::from("\"");
            for (c, as_unicode_escape) in chars {
                if as_unicode_escape {
                    for unit in c.encode_utf16(&mut [0; 2]) {
                        out.push_str(&format!("\\u{unit:04x}"));
                    }
                } else {
                    let quoted = serde_json::to_string(&c.to_string()).unwrap();
                    out.push_str(&quoted[1..quoted.len() - 1]);
                }
            }
            out.push('"');
            out
        })
        .boxed()
}

fn number_literal() -> BoxedStrategy<String> {
    prop_oneof![
        any::<i32>().prop_map(|n| n.to_string()),
        (any::<i16>(), 0u16..1000).prop_map(|(i, f)| format!("{i}.{f}")),
        (1u8..10, -20i8..20).prop_map(|(m, e)| format!("{m}e{e}")),
    ]
    .boxed()
}

/// Generates the operator and value after an attribute path, with their
/// leading space: ` pr`, ` eq "x"`, ` ne null`, and so on, valid for `kind`.
/// `custom` adds number and boolean values, which custom extension
/// attributes accept.
fn condition(kind: AttrType, custom: bool) -> BoxedStrategy<String> {
    let present = (space(), cased("pr")).prop_map(|(s, pr)| format!("{s}{pr}"));
    let with_value = |ops: Vec<&'static str>, value: BoxedStrategy<String>| {
        (space(), select(ops), space(), value)
            .prop_flat_map(|(s1, op, s2, value)| {
                cased(op).prop_map(move |op| format!("{s1}{op}{s2}{value}"))
            })
            .boxed()
    };
    let null = with_value(vec!["eq", "ne"], Just("null".to_string()).boxed());
    let boolean_value = prop_oneof![
        select(vec!["true", "false"]).prop_map(str::to_string),
        // Entra sends booleans as the strings "True" and "False".
        select(vec!["true", "false"])
            .prop_flat_map(cased)
            .prop_map(|b| format!("\"{b}\"")),
    ]
    .boxed();

    if kind == AttrType::Boolean {
        return prop_oneof![present, null, with_value(vec!["eq", "ne"], boolean_value)].boxed();
    }
    let mut values = vec![string_literal()];
    if custom {
        values.push(number_literal());
        values.push(
            select(vec!["true", "false"])
                .prop_map(str::to_string)
                .boxed(),
        );
    }
    let value = proptest::strategy::Union::new(values).boxed();
    prop_oneof![
        1 => present,
        1 => null,
        4 => with_value(COMPARE_OPS.to_vec(), value),
    ]
    .boxed()
}

/// Returns whether the filter grammar can name `name` (RFC 7644 §3.4.2.2 ATTRNAME),
/// which rules out `$ref`.
fn is_attr_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Lists the top-level attributes of `kind` with the URN that qualifies
/// each. The URN is optional for the core schema and required for the
/// enterprise one.
fn top_level_attributes(kind: ResourceKind) -> Vec<(&'static str, &'static AttrDef, bool)> {
    let core_urn = kind.core_schema().id;
    let mut out: Vec<_> = [&ID_ATTRIBUTE, &EXTERNAL_ID_ATTRIBUTE, &META_ATTRIBUTE]
        .into_iter()
        .chain(kind.core_schema().attributes)
        .map(|def| (core_urn, def, false))
        .collect();
    if kind == ResourceKind::User {
        out.extend(
            ENTERPRISE_USER_ATTRIBUTES
                .iter()
                .map(|def| (ENTERPRISE_USER_URN, def, true)),
        );
    }
    out
}

/// Writes `[urn:]name` in random case.
fn attribute_prefix(
    urn: &'static str,
    name: &'static str,
    urn_required: bool,
) -> BoxedStrategy<String> {
    (any::<bool>(), cased(urn), cased(name))
        .prop_map(move |(qualify, urn, name)| {
            if qualify || urn_required {
                format!("{urn}:{name}")
            } else {
                name
            }
        })
        .boxed()
}

/// Generates a comparison or presence test on a schema attribute or
/// sub-attribute.
fn schema_comparison(kind: ResourceKind) -> BoxedStrategy<Expr> {
    let mut leaves = Vec::new();
    for (urn, def, urn_required) in top_level_attributes(kind) {
        let prefix = attribute_prefix(urn, def.name, urn_required);
        if def.kind == AttrType::Complex {
            // RFC 7644 §3.4.2.2: a comparison on a complex attribute without
            // a sub-attribute compares its `value` sub-attribute.
            let whole_condition = if def.sub_attribute("value").is_some() {
                condition(AttrType::String, false)
            } else {
                (space(), cased("pr"))
                    .prop_map(|(s, pr)| format!("{s}{pr}"))
                    .boxed()
            };
            leaves.push(
                (prefix.clone(), whole_condition)
                    .prop_map(|(p, c)| p + &c)
                    .boxed(),
            );
            for sub in def.sub_attributes.iter().filter(|s| is_attr_name(s.name)) {
                let leaf = (prefix.clone(), cased(sub.name), condition(sub.kind, false))
                    .prop_map(|(p, s, c)| format!("{p}.{s}{c}"));
                leaves.push(leaf.boxed());
            }
        } else {
            leaves.push(
                (prefix, condition(def.kind, false))
                    .prop_map(|(p, c)| p + &c)
                    .boxed(),
            );
        }
    }
    proptest::strategy::Union::new(leaves)
        .prop_map(|text| (text, Shape::Atom))
        .boxed()
}

/// Generates a comparison on a custom extension attribute, which takes strings,
/// numbers and booleans.
fn custom_comparison() -> BoxedStrategy<Expr> {
    (
        cased(CUSTOM_URN),
        "[a-zA-Z][a-zA-Z0-9_-]{0,8}",
        condition(AttrType::String, true),
    )
        .prop_map(|(urn, name, c)| (format!("{urn}:{name}{c}"), Shape::Atom))
        .boxed()
}

/// Joins expressions with `and` or `or`, adding the parentheses precedence
/// requires and, at random, redundant ones.
fn join(items: Vec<(Expr, bool)>, word: &str, spaces: &[&str], shape: Shape) -> Expr {
    let mut text = String::new();
    for (i, ((item, item_shape), extra_parens)) in items.into_iter().enumerate() {
        if i > 0 {
            let space = spaces[i % spaces.len()];
            text.push_str(&format!("{space}{word}{space}"));
        }
        let needs_parens = shape == Shape::And && item_shape == Shape::Or;
        if needs_parens || extra_parens {
            text.push_str(&format!("({item})"));
        } else {
            text.push_str(&item);
        }
    }
    (text, shape)
}

/// Combines leaves with `and`, `or`, `not` and grouping, nesting a few levels.
fn combine(leaf: BoxedStrategy<Expr>, depth: u32) -> BoxedStrategy<Expr> {
    leaf.prop_recursive(depth, 24, 3, |inner| {
        let items = proptest::collection::vec((inner.clone(), proptest::bool::weighted(0.2)), 2..4);
        let spaces = proptest::collection::vec(space(), 3);
        prop_oneof![
            (items.clone(), cased("and"), spaces.clone()).prop_map(|(items, word, spaces)| join(
                items,
                &word,
                &spaces,
                Shape::And
            )),
            (items, cased("or"), spaces).prop_map(|(items, word, spaces)| join(
                items,
                &word,
                &spaces,
                Shape::Or
            )),
            (cased("not"), inner.clone())
                .prop_map(|(not, (text, _))| (format!("{not} ({text})"), Shape::Atom)),
            inner.prop_map(|(text, _)| (format!("({text})"), Shape::Atom)),
        ]
    })
    .boxed()
}

/// Generates a filter over the sub-attributes of `parent`, as written inside
/// `parent[...]`. A sub-attribute may carry the parent's name, as in
/// `emails[emails.type eq "work"]`.
fn element_filter(parent: &'static AttrDef) -> BoxedStrategy<Expr> {
    let leaves: Vec<BoxedStrategy<Expr>> = parent
        .sub_attributes
        .iter()
        .filter(|s| is_attr_name(s.name))
        .map(|sub| {
            (
                any::<bool>(),
                cased(parent.name),
                cased(sub.name),
                condition(sub.kind, false),
            )
                .prop_map(|(qualify, parent, sub, c)| {
                    let path = if qualify {
                        format!("{parent}.{sub}")
                    } else {
                        sub
                    };
                    (path + &c, Shape::Atom)
                })
                .boxed()
        })
        .collect();
    combine(proptest::strategy::Union::new(leaves).boxed(), 2)
}

/// Generates value paths on every complex attribute: `emails[type eq "work"]`, and
/// Entra's `emails[type eq "work"].value eq "x"`, which has a sub-attribute
/// after the brackets.
fn value_path(kind: ResourceKind) -> BoxedStrategy<Expr> {
    let mut paths = Vec::new();
    for (urn, def, urn_required) in top_level_attributes(kind) {
        if def.kind != AttrType::Complex {
            continue;
        }
        let prefix = attribute_prefix(urn, def.name, urn_required);
        paths.push(
            (prefix.clone(), element_filter(def))
                .prop_map(|(p, (inner, _))| (format!("{p}[{inner}]"), Shape::Atom))
                .boxed(),
        );
        for sub in def.sub_attributes.iter().filter(|s| is_attr_name(s.name)) {
            let trailing = (
                prefix.clone(),
                element_filter(def),
                cased(sub.name),
                condition(sub.kind, false),
            )
                .prop_map(|(p, (inner, _), s, c)| (format!("{p}[{inner}].{s}{c}"), Shape::Atom));
            paths.push(trailing.boxed());
        }
    }
    proptest::strategy::Union::new(paths).boxed()
}

/// Generates valid filter text for `kind`.
fn filter_text(kind: ResourceKind) -> BoxedStrategy<String> {
    let mut leaves = vec![(4, schema_comparison(kind)), (2, value_path(kind))];
    if kind == ResourceKind::User {
        leaves.push((1, custom_comparison()));
    }
    combine(proptest::strategy::Union::new_weighted(leaves).boxed(), 4)
        .prop_map(|(text, _)| text)
        .boxed()
}

fn kind_and_filter() -> impl Strategy<Value = (ResourceKind, String)> {
    any_kind().prop_flat_map(|kind| (Just(kind), filter_text(kind)))
}

/// Generates concatenated fragments of filter syntax, for inputs that come close to being valid.
fn token_soup() -> impl Strategy<Value = String> {
    let tokens = vec![
        "(",
        ")",
        "[",
        "]",
        "\"",
        "\\",
        " ",
        "  ",
        ".",
        ":",
        "eq",
        "EQ",
        "pr",
        "and",
        "or",
        "not ",
        "not",
        "emails",
        "userName",
        "displayName",
        "members",
        "value",
        "type",
        "true",
        "null",
        "1",
        "-2.5e3",
        "\"x\"",
        "\"a\\\"b\"",
        "\"\\u00e9\"",
        "\"\\ud800\"",
        "].",
        "].value",
        "urn:ietf:params:scim:schemas:core:2.0:User:",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:",
        "urn:ietf:params:scim:schemas:extension:lockgate:2.0:User:",
        "é",
        "😀",
        "\u{0}",
        "\t",
        "\n",
    ];
    proptest::collection::vec(select(tokens), 0..48).prop_map(|parts| parts.concat())
}

/// Generates deep nesting: many openers, then a term, then some closers.
fn deep_nesting() -> impl Strategy<Value = String> {
    (
        select(vec!["(", "not (", "emails[", "[", "\"", "not (emails["]),
        0usize..3000,
        select(vec![
            "userName eq \"x\"",
            "type eq \"work\"",
            "",
            "value pr",
        ]),
        select(vec![")", "]", "])", "\""]),
        0usize..3000,
    )
        .prop_map(|(open, opens, term, close, closes)| {
            format!("{}{term}{}", open.repeat(opens), close.repeat(closes))
        })
}

/// Generates a valid filter with one character inserted, removed or
/// replaced.
fn mutated_filter() -> impl Strategy<Value = String> {
    (
        filter_text(ResourceKind::User),
        any::<proptest::sample::Index>(),
        0u8..3,
        literal_char(),
    )
        .prop_map(|(text, at, edit, c)| {
            let mut chars: Vec<char> = text.chars().collect();
            let at = at.index(chars.len() + 1);
            match edit {
                0 => chars.insert(at, c),
                1 if at < chars.len() => {
                    chars.remove(at);
                }
                _ if at < chars.len() => chars[at] = c,
                _ => chars.push(c),
            }
            chars.into_iter().collect()
        })
}

fn arbitrary_input() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        token_soup(),
        deep_nesting(),
        mutated_filter(),
    ]
}

/// Parses `text` and checks that the result is a filter or a 400
/// `invalidFilter` error, and that an accepted filter round-trips.
fn check_outcome(kind: ResourceKind, text: &str) -> Result<(), TestCaseError> {
    match parse_filter(kind, text) {
        Ok(filter) => check_round_trip(kind, text, &filter),
        Err(err) => {
            prop_assert_eq!(err.status, 400, "{:?}: {}", text, err.detail);
            prop_assert_eq!(
                err.scim_type,
                Some(ScimType::InvalidFilter),
                "{:?}: {}",
                text,
                err.detail
            );
            Ok(())
        }
    }
}

fn check_round_trip(kind: ResourceKind, text: &str, first: &Filter) -> Result<(), TestCaseError> {
    let rendered = first.display(kind).to_string();
    let second = parse_filter(kind, &rendered);
    prop_assert!(
        second.is_ok(),
        "rendered filter does not parse\ninput:    {text}\nrendered: {rendered}\nerror:    {:?}",
        second.err()
    );
    let second = second.unwrap();
    prop_assert_eq!(
        &second,
        first,
        "trees differ\ninput:    {}\nrendered: {}",
        text,
        rendered
    );
    prop_assert_eq!(second.display(kind).to_string(), rendered);
    Ok(())
}

fn case_count() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(512)
}

proptest! {
    // PROPTEST_CASES overrides the case count for longer local runs.
    #![proptest_config(ProptestConfig::with_cases(case_count()))]

    #[test]
    fn parse_never_panics(kind in any_kind(), text in arbitrary_input()) {
        check_outcome(kind, &text)?;
    }

    #[test]
    fn generated_filters_round_trip((kind, text) in kind_and_filter()) {
        let first = parse_filter(kind, &text);
        prop_assert!(first.is_ok(), "generated filter rejected\ninput: {}\nerror: {:?}", text, first.err());
        check_round_trip(kind, &text, &first.unwrap())?;
    }
}

#[test]
fn deep_parentheses_rejected() {
    for depth in [65, 1000, 100_000] {
        let text = format!(
            "{}userName eq \"x\"{}",
            "(".repeat(depth),
            ")".repeat(depth)
        );
        let err = parse_filter(ResourceKind::User, &text).unwrap_err();
        assert_eq!(
            err.scim_type,
            Some(ScimType::InvalidFilter),
            "depth {depth}"
        );
    }
}

#[test]
fn moderate_nesting_accepted() {
    let text = format!("{}userName eq \"x\"{}", "(".repeat(32), ")".repeat(32));
    assert!(parse_filter(ResourceKind::User, &text).is_ok());
}

/// Checks `].sub pr` directly before `)`: the value-path rewrite must end
/// the operator at a closing bracket as well as at whitespace.
#[test]
fn trailing_sub_attribute_pr_in_group() {
    for text in [
        "(emails[type eq \"work\"].value pr)",
        "not (emails[type eq \"work\"].value pr)",
    ] {
        let result = parse_filter(ResourceKind::User, text);
        assert!(result.is_ok(), "{text}: {result:?}");
    }
}
