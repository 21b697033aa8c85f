//! The attribute value index: one `scim_values` row per leaf value of a
//! stored document, except the attributes that have their own columns.
//! Filters on any other attribute compile to `EXISTS` over these rows.

use crate::batch::{Batch, text};
use crate::filter_sql::Bind;
use lockgate_scim::filter::index_key;
use lockgate_scim::schema::{ResourceKind, SchemaRef};
use serde_json::Value;

/// One indexed value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IndexRow {
    pub attr: String,
    pub root: String,
    pub elem: i64,
    pub value: String,
}

/// Attributes stored in columns of their own, so not in `scim_values`.
fn has_column(kind: ResourceKind, name: &str) -> bool {
    let columns: &[&str] = match kind {
        ResourceKind::User => &["schemas", "userName", "externalId", "displayName", "active"],
        ResourceKind::Group => &["schemas", "externalId", "displayName", "members"],
    };
    columns.iter().any(|c| c.eq_ignore_ascii_case(name))
}

/// Lists the index rows of a stored document.
pub(crate) fn index_rows(kind: ResourceKind, document: &Value) -> Vec<IndexRow> {
    let mut rows = Vec::new();
    let Some(object) = document.as_object() else {
        return rows;
    };
    for (key, value) in object {
        if has_column(kind, key) {
            continue;
        }
        match SchemaRef::from_urn(kind, Some(key)) {
            Ok(schema @ (SchemaRef::Enterprise | SchemaRef::Custom(_))) => {
                if let Some(extension) = value.as_object() {
                    for (name, value) in extension {
                        push_attribute(&mut rows, &schema, name, value);
                    }
                }
            }
            _ => push_attribute(&mut rows, &SchemaRef::Core, key, value),
        }
    }
    rows
}

fn push_attribute(rows: &mut Vec<IndexRow>, schema: &SchemaRef, name: &str, value: &Value) {
    let root = index_key(schema, name, None);
    match value {
        Value::Array(elements) => {
            for (i, element) in elements.iter().enumerate() {
                push_element(rows, schema, name, &root, i as i64, element);
            }
        }
        other => push_element(rows, schema, name, &root, 0, other),
    }
}

fn push_element(
    rows: &mut Vec<IndexRow>,
    schema: &SchemaRef,
    name: &str,
    root: &str,
    elem: i64,
    value: &Value,
) {
    match value {
        Value::Object(subs) => {
            for (sub, leaf) in subs {
                if let Some(text) = leaf_text(leaf) {
                    rows.push(IndexRow {
                        attr: index_key(schema, name, Some(sub)),
                        root: root.to_string(),
                        elem,
                        value: text,
                    });
                }
            }
        }
        leaf => {
            if let Some(text) = leaf_text(leaf) {
                rows.push(IndexRow {
                    attr: root.to_string(),
                    root: root.to_string(),
                    elem,
                    value: text,
                });
            }
        }
    }
}

fn leaf_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Adds the statements that replace the index rows of one resource to a
/// write batch; `existing` is false for a new resource, which has none.
pub(crate) fn push_replace(
    batch: &mut Batch,
    tenant_id: &str,
    resource_id: &str,
    rows: &[IndexRow],
    existing: bool,
) {
    if existing {
        batch.push(
            "DELETE FROM scim_values WHERE tenant_id = $1 AND resource_id = $2",
            vec![text(tenant_id), text(resource_id)],
        );
    }
    for chunk in rows.chunks(100) {
        let mut sql = String::from(
            "INSERT INTO scim_values (tenant_id, resource_id, attr, root, elem, value, value_folded) VALUES ",
        );
        let mut binds = vec![text(tenant_id), text(resource_id)];
        for (i, row) in chunk.iter().enumerate() {
            let base = 3 + i * 5;
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!(
                "($1, $2, ${}, ${}, ${}, ${}, ${})",
                base,
                base + 1,
                base + 2,
                base + 3,
                base + 4
            ));
            binds.extend([
                text(&row.attr),
                text(&row.root),
                Bind::Int(row.elem),
                text(&row.value),
                text(row.value.to_lowercase()),
            ]);
        }
        batch.push(sql, binds);
    }
}

/// Adds the statements that turn the index rows `before` into `after`,
/// touching only the rows that differ: an update that changes one
/// attribute rewrites one or two rows, not all of them, which keeps the
/// pages a commit writes few.
pub(crate) fn push_diff(
    batch: &mut Batch,
    tenant_id: &str,
    resource_id: &str,
    before: &[IndexRow],
    after: &[IndexRow],
) {
    let removed: Vec<&IndexRow> = before.iter().filter(|row| !after.contains(row)).collect();
    let added: Vec<IndexRow> = after
        .iter()
        .filter(|row| !before.contains(row))
        .cloned()
        .collect();
    for row in removed {
        batch.push(
            "DELETE FROM scim_values WHERE tenant_id = $1 AND resource_id = $2 AND attr = $3 \
             AND elem = $4 AND value = $5",
            vec![
                text(tenant_id),
                text(resource_id),
                text(&row.attr),
                Bind::Int(row.elem),
                text(&row.value),
            ],
        );
    }
    push_replace(batch, tenant_id, resource_id, &added, false);
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn rows_cover_multi_valued_complex_and_extensions() {
        let doc = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "mira@lockers.example",
            "title": "Night supervisor",
            "name": {"givenName": "Mira"},
            "emails": [{"type": "work", "value": "Mira@Lockers.example", "primary": true}],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
                "department": "Depot North",
                "manager": {"value": "u-9b0e"}
            }
        });
        let rows = index_rows(ResourceKind::User, &doc);
        let find = |attr: &str| rows.iter().find(|r| r.attr == attr).cloned();
        assert!(find("username").is_none(), "userName has its own column");
        assert_eq!(find("title").unwrap().value, "Night supervisor");
        assert_eq!(find("name.givenname").unwrap().root, "name");
        assert_eq!(find("emails.value").unwrap().value, "Mira@Lockers.example");
        assert_eq!(find("emails.primary").unwrap().value, "true");
        assert_eq!(find("enterprise:department").unwrap().value, "Depot North");
        assert_eq!(find("enterprise:manager.value").unwrap().value, "u-9b0e");
    }
}
