//! Property tests for PATCH parsing (RFC 7644 §3.5.2).
//!
//! `parse_operations` receives the request body as sent, so every JSON value
//! must give either operations or a 400 error, and `apply` must return a
//! document or a 400 for the operations it accepts. The round-trip property
//! checks that `PatchPathRef::path_text` writes text that resolves to the
//! same path again, in the schema spelling whatever case the client used.

use lockgate_scim::ScimError;
use lockgate_scim::error::ScimType;
use lockgate_scim::patch::{PatchPathRef, apply, parse_operations};
use lockgate_scim::schema::{
    AttrDef, AttrType, ENTERPRISE_USER_ATTRIBUTES, ENTERPRISE_USER_URN, EXTERNAL_ID_ATTRIBUTE,
    GROUP_ATTRIBUTES, GROUP_URN, ID_ATTRIBUTE, META_ATTRIBUTE, ResourceKind, USER_ATTRIBUTES,
    USER_URN,
};
use proptest::prelude::*;
use proptest::sample::select;
use serde_json::{Map, Value, json};

const CUSTOM_URN: &str = "urn:ietf:params:scim:schemas:extension:lockgate:2.0:User";

fn any_kind() -> impl Strategy<Value = ResourceKind> {
    prop_oneof![Just(ResourceKind::User), Just(ResourceKind::Group)]
}

/// Stored documents the generated operations are applied to.
fn stored_document(kind: ResourceKind) -> Value {
    match kind {
        ResourceKind::User => json!({
            "schemas": [USER_URN, ENTERPRISE_USER_URN],
            "userName": "mira.okafor@lockers.example",
            "active": true,
            "emails": [{"type": "work", "value": "mira.okafor@lockers.example", "primary": true}],
            "name": {"givenName": "Mira", "familyName": "Okafor"},
            ENTERPRISE_USER_URN: {"department": "Depot North", "manager": {"value": "u-9b0e"}}
        }),
        ResourceKind::Group => json!({"schemas": [GROUP_URN], "displayName": "Bank B Night Shift"}),
    }
}

fn assert_client_error(error: &ScimError, context: &str) {
    assert_eq!(error.status, 400, "{context}: {error}");
    assert!(
        error.scim_type.is_some(),
        "{context}: {error} has no scimType"
    );
}

// ---------------------------------------------------------------------------
// Arbitrary input

/// Generates strings made of path and filter tokens, which reach deeper into
/// the parsers than uniformly random text.
fn token_text() -> BoxedStrategy<String> {
    let token = select(vec![
        "emails",
        "members",
        "name",
        "givenName",
        "value",
        "type",
        "primary",
        "active",
        "userName",
        "displayName",
        "manager",
        ".",
        "[",
        "]",
        "(",
        ")",
        "\"",
        "\\",
        " ",
        "eq",
        "EQ",
        "ne",
        "co",
        "pr",
        "and",
        "or",
        "not",
        "\"work\"",
        "true",
        "null",
        "42",
        ":",
        "urn:ietf:params:scim:schemas:core:2.0:User:",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:",
        "urn:ietf:params:scim:schemas:extension:lockgate:2.0:User",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
        "$ref",
        "é",
        "\u{0}",
    ]);
    proptest::collection::vec(token, 0..10)
        .prop_map(|tokens| tokens.concat())
        .boxed()
}

fn any_path_text() -> BoxedStrategy<String> {
    prop_oneof![
        2 => any::<String>(),
        3 => token_text(),
        2 => any_kind().prop_flat_map(valid_path),
    ]
    .boxed()
}

fn object_key() -> BoxedStrategy<String> {
    prop_oneof![
        3 => select(vec![
            "op", "Op", "path", "PATH", "value", "Value", "Operations", "operations", "schemas",
            "members", "displayName", "userName", "active", "id", "meta", "emails", "name",
            "name.givenName", "type", "primary", "$ref",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
            "urn:ietf:params:scim:schemas:extension:lockgate:2.0:User:badgeNumber",
            "urn:ietf:params:scim:schemas:extension:lockgate:2.0:User",
        ])
        .prop_map(str::to_string),
        1 => any::<String>(),
    ]
    .boxed()
}

fn json_value() -> BoxedStrategy<Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        select(vec!["", "True", "false", "u-7d1e", "work", "add"]).prop_map(Value::from),
        token_text().prop_map(Value::String),
        any::<String>().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 5, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            proptest::collection::vec((object_key(), inner), 0..5)
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect::<Map<_, _>>())),
        ]
    })
    .boxed()
}

fn op_name() -> BoxedStrategy<Value> {
    prop_oneof![
        4 => select(vec!["add", "Add", "REPLACE", "replace", "remove", "Remove", "update", ""])
            .prop_map(Value::from),
        1 => json_value(),
    ]
    .boxed()
}

/// Generates one operation object, each member present or absent.
fn operation() -> BoxedStrategy<Value> {
    (
        op_name(),
        proptest::option::of(any_path_text()),
        proptest::option::of(json_value()),
    )
        .prop_map(|(op, path, value)| operation_object(op, path, value))
        .boxed()
}

/// Generates an operation that passes parsing more often than not: a valid
/// op name, a valid path of `kind` with a value of a plausible type, or no
/// path with an object value.
fn plausible_operation(kind: ResourceKind) -> BoxedStrategy<Value> {
    let op =
        select(vec!["add", "Add", "replace", "Replace", "remove", "Remove"]).prop_map(Value::from);
    let scalar = prop_oneof![
        3 => select(vec!["", "True", "false", "u-7d1e", "work", "Depot South"]).prop_map(Value::from),
        1 => any::<bool>().prop_map(Value::Bool),
        1 => Just(Value::Null),
        1 => json_value(),
    ];
    let object = select(vec![
        json!([{"value": "u-7d1e"}, {"value": "u-8a90", "$ref": null}]),
        json!({"value": "a@lockers.example", "type": "work", "primary": "True"}),
        json!({"givenName": "Mira", "familyName": ""}),
        json!({"displayName": "Bank B", "members": [{"value": "u-1"}]}),
        json!({"name.familyName": "Okafor-Lind", "userName": "m@x", "active": "False"}),
        json!({ENTERPRISE_USER_URN: {"department": "Depot", "manager": "u-9b0e"}}),
        json!({"emails[type eq \"work\"].value": "m@x", "externalId": "a3c1"}),
    ]);
    let with_path = (
        op.clone(),
        valid_path(kind),
        proptest::option::weighted(0.8, prop_oneof![scalar, object.clone()]),
    )
        .prop_map(|(op, path, value)| operation_object(op, Some(path), value));
    let pathless = (op, object).prop_map(|(op, value)| operation_object(op, None, Some(value)));
    prop_oneof![3 => with_path, 1 => pathless].boxed()
}

fn operation_object(op: Value, path: Option<String>, value: Option<Value>) -> Value {
    let mut object = Map::new();
    object.insert("op".to_string(), op);
    if let Some(path) = path {
        object.insert("path".to_string(), Value::String(path));
    }
    if let Some(value) = value {
        object.insert("value".to_string(), value);
    }
    Value::Object(object)
}

fn patch_body(kind: ResourceKind) -> BoxedStrategy<Value> {
    let operations = prop_oneof![
        1 => proptest::collection::vec(operation(), 0..4),
        3 => proptest::collection::vec(plausible_operation(kind), 1..4),
    ];
    prop_oneof![
        1 => json_value(),
        4 => operations.prop_map(|operations| {
            json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": operations
            })
        }),
    ]
    .boxed()
}

// ---------------------------------------------------------------------------
// Valid paths

/// Generates `text` with each ASCII letter in random case, because attribute
/// names and schema URNs are case-insensitive (RFC 7643 §2.1).
fn random_case(text: &str) -> BoxedStrategy<String> {
    let text = text.to_string();
    proptest::collection::vec(any::<bool>(), text.len())
        .prop_map(move |flips| {
            text.chars()
                .zip(flips)
                .map(|(c, flip)| {
                    if flip {
                        c.to_ascii_uppercase()
                    } else {
                        c.to_ascii_lowercase()
                    }
                })
                .collect()
        })
        .boxed()
}

/// Generates a JSON string literal with characters that need escaping.
fn string_literal() -> BoxedStrategy<String> {
    let chars = prop_oneof![
        4 => proptest::char::range('a', 'z'),
        2 => select(vec!['"', '\\', ' ', '[', ']', '.', ':', '@', '\n', 'é', '中']),
        1 => any::<char>(),
    ];
    proptest::collection::vec(chars, 0..10)
        .prop_map(|chars| {
            let text: String = chars.into_iter().collect();
            serde_json::to_string(&text).expect("a String always serialises")
        })
        .boxed()
}

/// Sub-attributes the path grammar can name: `$ref` is not an ATTRNAME.
fn nameable_subs(def: &'static AttrDef) -> Vec<&'static AttrDef> {
    def.sub_attributes
        .iter()
        .filter(|sub| !sub.name.starts_with('$'))
        .collect()
}

/// Generates one `sub op value` term inside a value filter.
fn filter_term(def: &'static AttrDef) -> BoxedStrategy<String> {
    select(nameable_subs(def))
        .prop_flat_map(|sub| {
            let (ops, value): (Vec<&str>, BoxedStrategy<String>) = if sub.kind == AttrType::Boolean
            {
                (
                    vec!["eq", "ne"],
                    select(vec!["true", "false"])
                        .prop_map(str::to_string)
                        .boxed(),
                )
            } else {
                (vec!["eq", "ne", "co", "sw", "ew"], string_literal())
            };
            let op = select(ops).prop_flat_map(random_case);
            (random_case(sub.name), op, value)
                .prop_map(|(name, op, value)| format!("{name} {op} {value}"))
        })
        .boxed()
}

/// Generates a value filter of one to three terms joined by `and` or `or`.
fn value_filter(def: &'static AttrDef) -> BoxedStrategy<String> {
    (
        proptest::collection::vec(filter_term(def), 1..4),
        select(vec!["and", "or"]).prop_flat_map(random_case),
    )
        .prop_map(|(terms, joiner)| terms.join(&format!(" {joiner} ")))
        .boxed()
}

/// Generates a valid path for `def`, prefixed with `prefix` (a schema URN
/// and colon, or nothing).
fn path_for(prefix: String, def: &'static AttrDef) -> BoxedStrategy<String> {
    let name = random_case(def.name);
    let subs = nameable_subs(def);
    if subs.is_empty() {
        return name.prop_map(move |name| format!("{prefix}{name}")).boxed();
    }
    let sub = select(subs).prop_flat_map(|sub| random_case(sub.name));
    if !def.multi_valued {
        let plain = name.clone().prop_map({
            let prefix = prefix.clone();
            move |name| format!("{prefix}{name}")
        });
        let dotted = (name, sub).prop_map(move |(name, sub)| format!("{prefix}{name}.{sub}"));
        return prop_oneof![plain, dotted].boxed();
    }
    let with_filter = (name, value_filter(def), proptest::option::of(sub));
    with_filter
        .prop_map(move |(name, filter, sub)| match sub {
            Some(sub) => format!("{prefix}{name}[{filter}].{sub}"),
            None => format!("{prefix}{name}[{filter}]"),
        })
        .boxed()
}

fn core_definitions(kind: ResourceKind) -> Vec<&'static AttrDef> {
    let schema_attributes = match kind {
        ResourceKind::User => USER_ATTRIBUTES,
        ResourceKind::Group => GROUP_ATTRIBUTES,
    };
    [&ID_ATTRIBUTE, &EXTERNAL_ID_ATTRIBUTE, &META_ATTRIBUTE]
        .into_iter()
        .chain(schema_attributes.iter())
        .collect()
}

/// Generates a valid PATCH path for `kind` in random case: plain, dotted,
/// filtered, filtered with a sub-attribute, core-URN-qualified, enterprise
/// and custom extension paths.
fn valid_path(kind: ResourceKind) -> BoxedStrategy<String> {
    let core_urn = kind.core_schema().id;
    let core_prefix = prop_oneof![
        3 => Just(String::new()),
        1 => random_case(core_urn).prop_map(|urn| format!("{urn}:")),
    ];
    let core = (core_prefix, select(core_definitions(kind)))
        .prop_flat_map(|(prefix, def)| path_for(prefix, def))
        .boxed();
    if kind == ResourceKind::Group {
        return core;
    }

    let enterprise = (
        random_case(ENTERPRISE_USER_URN),
        select(ENTERPRISE_USER_ATTRIBUTES.iter().collect::<Vec<_>>()),
    )
        .prop_flat_map(|(urn, def)| path_for(format!("{urn}:"), def))
        .boxed();
    let custom = (
        random_case(CUSTOM_URN),
        select(vec!["badgeNumber", "lockerBank", "night-access"]),
    )
        .prop_map(|(urn, name)| format!("{urn}:{name}"))
        .boxed();
    prop_oneof![3 => core, 2 => enterprise, 1 => custom].boxed()
}

// ---------------------------------------------------------------------------
// Properties

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn parse_operations_returns_operations_or_a_400(
        (kind, body) in any_kind().prop_flat_map(|kind| (Just(kind), patch_body(kind)))
    ) {
        match parse_operations(kind, &body) {
            Err(error) => assert_client_error(&error, &body.to_string()),
            Ok(operations) => {
                if let Err(error) = apply(kind, stored_document(kind), &operations) {
                    assert_client_error(&error, &body.to_string());
                }
            }
        }
    }

    #[test]
    fn any_path_text_resolves_or_is_invalid_path(kind in any_kind(), text in any_path_text()) {
        if let Err(error) = PatchPathRef::parse(kind, &text) {
            prop_assert_eq!(error.status, 400);
            prop_assert_eq!(error.scim_type, Some(ScimType::InvalidPath), "{}: {}", text, error);
        }
    }

    #[test]
    fn valid_paths_round_trip(
        (kind, text) in any_kind().prop_flat_map(|kind| (Just(kind), valid_path(kind)))
    ) {
        let parsed = PatchPathRef::parse(kind, &text);
        prop_assert!(parsed.is_ok(), "{} did not parse: {:?}", text, parsed);
        let parsed = parsed.unwrap();

        let rendered = parsed.path_text(kind);
        let reparsed = PatchPathRef::parse(kind, &rendered);
        prop_assert!(reparsed.is_ok(), "{} rendered as {} which did not parse: {:?}", text, rendered, reparsed);
        let reparsed = reparsed.unwrap();

        prop_assert_eq!(&reparsed, &parsed, "{} rendered as {}", text, rendered);
        prop_assert_eq!(reparsed.path_text(kind), rendered);
    }
}
