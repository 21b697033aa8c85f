//! The discovery documents are a contract with provisioning clients, so the
//! generated JSON is committed under `crates/scim/contract/` and any change
//! to it shows up in review. Set `LOCKGATE_UPDATE_CONTRACT=1` to rewrite the
//! committed files from the code.

use std::fs;
use std::path::PathBuf;

use lockgate_scim::contract::{MAX_PAGE_SIZE, resource_types, schemas, service_provider_config};
use serde_json::Value;

const UPDATE_VARIABLE: &str = "LOCKGATE_UPDATE_CONTRACT";

fn contract_path(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("contract")
        .join(file)
}

/// Compares the generated document with the committed file, or rewrites the
/// file when `LOCKGATE_UPDATE_CONTRACT=1`.
fn check_committed(file: &str, generated: &Value) {
    let path = contract_path(file);
    let expected = serde_json::to_string_pretty(generated).unwrap() + "\n";
    if std::env::var(UPDATE_VARIABLE).as_deref() == Ok("1") {
        fs::write(&path, &expected)
            .unwrap_or_else(|e| panic!("failed to write {}: {e}", path.display()));
        return;
    }
    let committed = fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "failed to read {}: {e}. Create it with \
             `{UPDATE_VARIABLE}=1 cargo test -p lockgate-scim --test contract`",
            path.display()
        )
    });
    assert!(
        committed == expected,
        "{} differs from the document the code generates. If the change is intended, \
         run `{UPDATE_VARIABLE}=1 cargo test -p lockgate-scim --test contract`, \
         review the diff and commit the file.\n--- generated ---\n{expected}",
        path.display()
    );
}

#[test]
fn service_provider_config_matches_committed() {
    check_committed("service_provider_config.json", &service_provider_config());
}

#[test]
fn schemas_match_committed() {
    check_committed("schemas.json", &schemas());
}

#[test]
fn resource_types_match_committed() {
    check_committed("resource_types.json", &resource_types());
}

/// Collects the path of every `null` in `value`.
fn null_paths(value: &Value, path: &str, out: &mut Vec<String>) {
    match value {
        Value::Null => out.push(path.to_string()),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                null_paths(item, &format!("{path}[{i}]"), out);
            }
        }
        Value::Object(fields) => {
            for (key, item) in fields {
                null_paths(item, &format!("{path}.{key}"), out);
            }
        }
        _ => {}
    }
}

#[test]
fn documents_contain_no_null() {
    for (name, doc) in [
        ("ServiceProviderConfig", service_provider_config()),
        ("Schemas", schemas()),
        ("ResourceTypes", resource_types()),
    ] {
        let mut nulls = Vec::new();
        null_paths(&doc, name, &mut nulls);
        assert!(nulls.is_empty(), "null values at {nulls:?}");
    }
}

/// A check that a JSON value has the expected type.
type TypeCheck = fn(&Value) -> bool;

const REQUIRED_CHARACTERISTICS: [(&str, TypeCheck); 9] = [
    ("name", Value::is_string),
    ("type", Value::is_string),
    ("multiValued", Value::is_boolean),
    ("description", Value::is_string),
    ("required", Value::is_boolean),
    ("caseExact", Value::is_boolean),
    ("mutability", Value::is_string),
    ("returned", Value::is_string),
    ("uniqueness", Value::is_string),
];

/// Checks one attribute and its sub-attributes against RFC 7643 §7 and
/// appends a description of each violation to `out`.
fn attribute_violations(attribute: &Value, path: &str, out: &mut Vec<String>) {
    for (key, has_type) in REQUIRED_CHARACTERISTICS {
        match attribute.get(key) {
            Some(value) if has_type(value) => {}
            Some(value) => out.push(format!("{path}: {key} has the wrong type: {value}")),
            None => out.push(format!("{path}: missing {key}")),
        }
    }
    let kind = attribute["type"].as_str().unwrap_or_default();
    let subs = attribute.get("subAttributes").and_then(Value::as_array);
    if kind == "complex" && subs.is_none_or(Vec::is_empty) {
        out.push(format!("{path}: complex attribute without subAttributes"));
    }
    if kind != "complex" && subs.is_some() {
        out.push(format!("{path}: {kind} attribute with subAttributes"));
    }
    let reference_types = attribute.get("referenceTypes").and_then(Value::as_array);
    if kind == "reference" && reference_types.is_none_or(Vec::is_empty) {
        out.push(format!(
            "{path}: reference attribute without referenceTypes"
        ));
    }
    for key in ["canonicalValues", "referenceTypes"] {
        if let Some(value) = attribute.get(key)
            && value.as_array().is_none_or(Vec::is_empty)
        {
            out.push(format!(
                "{path}: {key} must be a non-empty array, got {value}"
            ));
        }
    }
    for sub in subs.into_iter().flatten() {
        let name = sub["name"].as_str().unwrap_or("?");
        attribute_violations(sub, &format!("{path}.{name}"), out);
    }
}

#[test]
fn schema_attributes_have_all_characteristics() {
    let doc = schemas();
    let resources = doc["Resources"].as_array().unwrap();
    assert_eq!(resources.len(), 3);

    let mut violations = Vec::new();
    let mut checked = 0;
    for schema in resources {
        let id = schema["id"].as_str().unwrap();
        for key in ["name", "description"] {
            assert!(schema[key].is_string(), "schema {id}: missing {key}");
        }
        assert_eq!(schema["meta"]["resourceType"], "Schema", "schema {id}");
        for attribute in schema["attributes"].as_array().unwrap() {
            let name = attribute["name"].as_str().unwrap_or("?");
            attribute_violations(attribute, &format!("{id}:{name}"), &mut violations);
            checked += 1;
        }
    }
    assert!(checked > 20, "only {checked} attributes checked");
    assert!(violations.is_empty(), "{violations:#?}");
}

#[test]
fn advertised_max_results_is_page_size() {
    let doc = service_provider_config();
    assert_eq!(
        doc["filter"]["maxResults"].as_u64(),
        Some(MAX_PAGE_SIZE as u64)
    );
}
