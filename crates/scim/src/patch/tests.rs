//! Request shapes Microsoft Entra ID sends, in both PATCH dialects, and the
//! RFC 7644 §3.5.2 rules they rely on. People and ids are invented.

use serde_json::{Value, json};

use super::*;
use crate::error::{ScimError, ScimType};
use crate::resource::{MemberRef, normalize};
use crate::schema::{ENTERPRISE_USER_URN, GROUP_URN, PATCH_OP_URN, USER_URN};

const ENTERPRISE: &str = ENTERPRISE_USER_URN;
const CUSTOM_URN: &str = "urn:ietf:params:scim:schemas:extension:lockgate:2.0:User";

/// Mira as stored after Entra's default create request.
fn mira() -> Value {
    let body = json!({
        "schemas": [USER_URN, ENTERPRISE],
        "externalId": "mokafor",
        "userName": "mira.okafor@lockers.example",
        "active": true,
        "displayName": "Mira Okafor",
        "title": "Night supervisor",
        "emails": [{"primary": true, "type": "work", "value": "mira.okafor@lockers.example"}],
        "name": {"givenName": "Mira", "familyName": "Okafor", "formatted": "Mira Okafor"},
        "phoneNumbers": [{"type": "mobile", "value": "+10000000001"}],
        ENTERPRISE: {"employeeNumber": "E-1042", "department": "Depot North"},
        "meta": {"resourceType": "User"},
        "roles": []
    });
    normalize(ResourceKind::User, body).unwrap().value
}

/// Mira with top-level keys replaced; a null value removes the key.
fn mira_with(changes: Value) -> Value {
    let mut document = mira();
    let map = document.as_object_mut().unwrap();
    for (key, value) in changes.as_object().unwrap() {
        if value.is_null() {
            map.shift_remove(key);
        } else {
            map.insert(key.clone(), value.clone());
        }
    }
    document
}

/// Builds a stored user with only the required attribute.
fn ivo() -> Value {
    json!({"schemas": [USER_URN], "userName": "ivo.brandt@lockers.example", "active": true})
}

fn bank_b() -> Value {
    json!({"schemas": [GROUP_URN], "externalId": "5d2c", "displayName": "Bank B Night Shift"})
}

fn patch(
    kind: ResourceKind,
    document: Value,
    operations: Value,
) -> Result<PatchOutcome, ScimError> {
    let body = json!({"schemas": [PATCH_OP_URN], "Operations": operations});
    let parsed = parse_operations(kind, &body)?;
    apply(kind, document, &parsed)
}

fn patch_user(document: Value, operations: Value) -> Value {
    let outcome = patch(ResourceKind::User, document, operations).unwrap();
    assert_eq!(outcome.member_changes, vec![]);
    outcome.document
}

fn patch_user_error(document: Value, operations: Value) -> ScimError {
    patch(ResourceKind::User, document, operations).unwrap_err()
}

fn patch_group(operations: Value) -> PatchOutcome {
    patch(ResourceKind::Group, bank_b(), operations).unwrap()
}

fn patch_group_error(operations: Value) -> ScimError {
    patch(ResourceKind::Group, bank_b(), operations).unwrap_err()
}

fn member(id: &str) -> MemberRef {
    MemberRef {
        value: id.to_string(),
        kind: None,
    }
}

fn assert_error(error: &ScimError, scim_type: ScimType, mentions: &[&str]) {
    assert_eq!(error.status, 400, "{error}");
    assert_eq!(error.scim_type, Some(scim_type), "{error}");
    for text in mentions {
        assert!(
            error.detail.contains(text),
            "{text:?} not in {:?}",
            error.detail
        );
    }
}

// ---------------------------------------------------------------------------
// Updating a user (joiner to mover)

fn mira_after_mover_update() -> Value {
    mira_with(json!({
        "userName": "m.okafor@lockers.example",
        "emails": [{"primary": true, "type": "work", "value": "m.okafor@lockers.example"}],
        "name": {"givenName": "Mira", "familyName": "Okafor-Lind", "formatted": "Mira Okafor"},
        ENTERPRISE: {"employeeNumber": "E-1042", "department": "Depot South"}
    }))
}

#[test]
fn update_user_default_dialect() {
    let document = patch_user(
        mira(),
        json!([
            {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "m.okafor@lockers.example"},
            {"op": "Replace", "path": "name.familyName", "value": "Okafor-Lind"},
            {"op": "Add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "value": "Depot South"},
            {"op": "Replace", "path": "userName", "value": "m.okafor@lockers.example"}
        ]),
    );
    assert_eq!(document, mira_after_mover_update());
}

#[test]
fn update_user_flag_dialect() {
    let document = patch_user(
        mira(),
        json!([
            {"op": "replace", "path": "emails[type eq \"work\"].value", "value": "m.okafor@lockers.example"},
            {"op": "replace", "value": {
                "name.familyName": "Okafor-Lind",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department": "Depot South",
                "userName": "m.okafor@lockers.example"
            }}
        ]),
    );
    assert_eq!(document, mira_after_mover_update());
}

#[test]
fn pathless_add_is_expanded_like_replace() {
    let document = patch_user(
        mira(),
        json!([{"op": "Add", "value": {"title": "Shift lead", "name.middleName": "A."}}]),
    );
    assert_eq!(
        document,
        mira_with(json!({
            "title": "Shift lead",
            "name": {"givenName": "Mira", "familyName": "Okafor", "formatted": "Mira Okafor", "middleName": "A."}
        }))
    );
}

#[test]
fn add_single_valued_string_both_dialects() {
    for op in ["Add", "add"] {
        let document = patch_user(
            mira(),
            json!([{"op": op, "path": "nickName", "value": "Mimi"}]),
        );
        assert_eq!(document, mira_with(json!({"nickName": "Mimi"})), "{op}");
    }
}

#[test]
fn replace_with_empty_then_null_clears() {
    let cleared = patch_user(
        mira(),
        json!([{"op": "replace", "path": "title", "value": ""}]),
    );
    assert_eq!(cleared, mira_with(json!({"title": null})));

    let document = patch_user(
        mira(),
        json!([{"op": "replace", "path": "title", "value": null}]),
    );
    assert_eq!(document, mira_with(json!({"title": null})));

    let document = patch_user(
        mira(),
        json!([{"op": "replace", "path": "emails[type eq \"work\"].value", "value": ""}]),
    );
    assert_eq!(document, mira_with(json!({"emails": null})));
}

#[test]
fn filtered_remove_value_clears_if_equal() {
    let path = "emails[type eq \"work\"].value";
    let unchanged = patch_user(
        mira(),
        json!([{"op": "Remove", "path": path, "value": "someone.else@lockers.example"}]),
    );
    assert_eq!(unchanged, mira());

    let document = patch_user(
        mira(),
        json!([{"op": "Remove", "path": path, "value": "MIRA.OKAFOR@lockers.example"}]),
    );
    assert_eq!(document, mira_with(json!({"emails": null})));
}

#[test]
fn single_remove_value_clears_if_equal() {
    let unchanged = patch_user(
        mira(),
        json!([{"op": "remove", "path": "title", "value": "Day supervisor"}]),
    );
    assert_eq!(unchanged, mira());

    let document = patch_user(
        mira(),
        json!([{"op": "remove", "path": "title", "value": "night supervisor"}]),
    );
    assert_eq!(document, mira_with(json!({"title": null})));
}

// ---------------------------------------------------------------------------
// Disable and re-enable

#[test]
fn disable_default_dialect() {
    let document = patch_user(
        mira(),
        json!([{"op": "Replace", "path": "active", "value": "False"}]),
    );
    assert_eq!(document, mira_with(json!({"active": false})));
}

#[test]
fn disable_flag_dialect() {
    let document = patch_user(
        mira(),
        json!([{"op": "replace", "path": "active", "value": false}]),
    );
    assert_eq!(document, mira_with(json!({"active": false})));
}

#[test]
fn disable_flag_dialect_pathless() {
    let document = patch_user(
        mira(),
        json!([{"op": "replace", "value": {"active": false}}]),
    );
    assert_eq!(document, mira_with(json!({"active": false})));
}

#[test]
fn disable_with_tombstone_user_name() {
    let tombstone = "7d1e0b2c9a4f4e3d8c1b0a9f8e7d6c5bmira.okafor@lockers.example";
    let document = patch_user(
        mira(),
        json!([
            {"op": "Replace", "path": "userName", "value": tombstone},
            {"op": "Replace", "path": "active", "value": "False"}
        ]),
    );
    assert_eq!(
        document,
        mira_with(json!({"userName": tombstone, "active": false}))
    );
}

#[test]
fn enable_default_dialect() {
    let disabled = mira_with(json!({"active": false}));
    let document = patch_user(
        disabled,
        json!([{"op": "Replace", "path": "active", "value": "True"}]),
    );
    assert_eq!(document, mira());
}

#[test]
fn enable_flag_dialect() {
    let disabled = mira_with(json!({"active": false}));
    let document = patch_user(
        disabled,
        json!([{"op": "replace", "path": "active", "value": true}]),
    );
    assert_eq!(document, mira());
}

// ---------------------------------------------------------------------------
// Groups

#[test]
fn member_add_default_dialect() {
    let outcome = patch_group(json!([{"op": "Add", "path": "members", "value": [
        {"$ref": null, "value": "u-7d1e"},
        {"$ref": null, "value": "u-8a90"}
    ]}]));
    assert_eq!(outcome.document, bank_b());
    assert_eq!(
        outcome.member_changes,
        vec![MemberChange::Add(vec![member("u-7d1e"), member("u-8a90")])]
    );
}

#[test]
fn member_add_flag_dialect() {
    let outcome = patch_group(json!([{"op": "add", "path": "members", "value": [
        {"value": "u-7d1e"},
        {"value": "u-8a90", "type": "User"}
    ]}]));
    assert_eq!(outcome.document, bank_b());
    let typed = MemberRef {
        value: "u-8a90".into(),
        kind: Some("User".into()),
    };
    assert_eq!(
        outcome.member_changes,
        vec![MemberChange::Add(vec![member("u-7d1e"), typed])]
    );
}

#[test]
fn member_add_single_object_value() {
    let outcome =
        patch_group(json!([{"op": "add", "path": "members", "value": {"value": "u-7d1e"}}]));
    assert_eq!(
        outcome.member_changes,
        vec![MemberChange::Add(vec![member("u-7d1e")])]
    );
}

#[test]
fn member_add_pathless() {
    let outcome = patch_group(json!([{"op": "add", "value": {"members": [{"value": "u-7d1e"}]}}]));
    assert_eq!(outcome.document, bank_b());
    assert_eq!(
        outcome.member_changes,
        vec![MemberChange::Add(vec![member("u-7d1e")])]
    );
}

#[test]
fn member_remove_default_dialect() {
    let outcome =
        patch_group(json!([{"op": "Remove", "path": "members", "value": [{"value": "u1091"}]}]));
    assert_eq!(outcome.document, bank_b());
    assert_eq!(
        outcome.member_changes,
        vec![MemberChange::Remove(vec!["u1091".into()])]
    );
}

#[test]
fn member_remove_flag_dialect() {
    let outcome = patch_group(json!([
        {"op": "remove", "path": "members[value eq \"7f4bc1a3-285e-48ae-8202-5accb43efb0e\"]"}
    ]));
    assert_eq!(outcome.document, bank_b());
    assert_eq!(
        outcome.member_changes,
        vec![MemberChange::Remove(vec![
            "7f4bc1a3-285e-48ae-8202-5accb43efb0e".into()
        ])]
    );
}

#[test]
fn rename_group_default_dialect() {
    let outcome = patch_group(
        json!([{"op": "Replace", "path": "displayName", "value": "Bank B Night Shift (old)"}]),
    );
    assert_eq!(
        outcome.document,
        json!({"schemas": [GROUP_URN], "externalId": "5d2c", "displayName": "Bank B Night Shift (old)"})
    );
    assert_eq!(outcome.member_changes, vec![]);
}

#[test]
fn rename_group_flag_dialect() {
    let outcome = patch_group(
        json!([{"op": "replace", "value": {"displayName": "Bank B Night Shift (old)"}}]),
    );
    assert_eq!(
        outcome.document,
        json!({"schemas": [GROUP_URN], "externalId": "5d2c", "displayName": "Bank B Night Shift (old)"})
    );
    assert_eq!(outcome.member_changes, vec![]);
}

#[test]
fn rename_and_member_changes_in_one_request() {
    let outcome = patch_group(json!([
        {"op": "replace", "value": {"displayName": "Bank B", "externalId": "5d2d"}},
        {"op": "add", "path": "members", "value": [{"value": "u-1"}]},
        {"op": "remove", "path": "members[value eq \"u-2\"]"}
    ]));
    assert_eq!(
        outcome.document,
        json!({"schemas": [GROUP_URN], "externalId": "5d2d", "displayName": "Bank B"})
    );
    assert_eq!(
        outcome.member_changes,
        vec![
            MemberChange::Add(vec![member("u-1")]),
            MemberChange::Remove(vec!["u-2".into()])
        ]
    );
}

// ---------------------------------------------------------------------------
// Failures other SCIM servers had with Entra

#[test]
fn s1_capitalised_op_is_accepted() {
    let document = patch_user(
        mira(),
        json!([
            {"op": "Replace", "path": "displayName", "value": "Mira Okafor-Lind"},
            {"op": "ADD", "path": "nickName", "value": "Mimi"},
            {"op": "ReMoVe", "path": "title"}
        ]),
    );
    assert_eq!(
        document,
        mira_with(json!({"displayName": "Mira Okafor-Lind", "nickName": "Mimi", "title": null}))
    );
}

#[test]
fn s1_unknown_op_is_invalid_syntax() {
    let error = patch_user_error(
        mira(),
        json!([{"op": "update", "path": "title", "value": "x"}]),
    );
    assert_error(&error, ScimType::InvalidSyntax, &["update"]);

    let error = patch_user_error(mira(), json!([{"path": "title", "value": "x"}]));
    assert_error(&error, ScimType::InvalidSyntax, &["op"]);
}

#[test]
fn s2_active_string_false_disables() {
    for text in ["False", "false", "FALSE"] {
        let document = patch_user(
            mira(),
            json!([{"op": "Replace", "path": "active", "value": text}]),
        );
        assert_eq!(document["active"], json!(false), "{text}");
    }
}

#[test]
fn s2_invalid_boolean_applies_nothing() {
    let error = patch_user_error(
        mira(),
        json!([
            {"op": "Replace", "path": "displayName", "value": "Changed"},
            {"op": "Replace", "path": "active", "value": "No"}
        ]),
    );
    assert_error(&error, ScimType::InvalidValue, &["active", "No"]);
}

#[test]
fn s4_default_dialect_member_remove_removes_only_listed() {
    let outcome = patch_group(json!([{"op": "Remove", "path": "members", "value": [
        {"$ref": null, "value": "u-7d1e"}
    ]}]));
    assert_eq!(
        outcome.member_changes,
        vec![MemberChange::Remove(vec!["u-7d1e".into()])]
    );
}

#[test]
fn s5_flag_dialect_filtered_member_remove() {
    let outcome = patch_group(json!([{"op": "remove", "path": "members[value eq \"u-7d1e\"]"}]));
    assert_eq!(
        outcome.member_changes,
        vec![MemberChange::Remove(vec!["u-7d1e".into()])]
    );
}

#[test]
fn s5_or_of_value_terms_removes_each() {
    let outcome = patch_group(json!([
        {"op": "remove", "path": "members[value eq \"u-1\" or value eq \"u-2\" or VALUE eq \"u-1\"]"}
    ]));
    assert_eq!(
        outcome.member_changes,
        vec![MemberChange::Remove(vec!["u-1".into(), "u-2".into()])]
    );
}

#[test]
fn s5_other_member_filters_are_invalid_filter() {
    for path in [
        "members[type eq \"User\"]",
        "members[value ne \"u-1\"]",
        "members[value eq \"u-1\" and type eq \"User\"]",
        "members[value eq \"u-1\" or type eq \"User\"]",
    ] {
        let error = patch_group_error(json!([{"op": "remove", "path": path}]));
        assert_error(&error, ScimType::InvalidFilter, &["value eq"]);
    }
}

#[test]
fn s6_pathless_dotted_keys() {
    let document = patch_user(
        mira(),
        json!([{"op": "replace", "value": {
            "displayName": "Mira Okafor-Lind",
            "name.familyName": "Okafor-Lind",
            "name.formatted": "Mira Okafor-Lind"
        }}]),
    );
    assert_eq!(
        document,
        mira_with(json!({
            "displayName": "Mira Okafor-Lind",
            "name": {"givenName": "Mira", "familyName": "Okafor-Lind", "formatted": "Mira Okafor-Lind"}
        }))
    );
}

#[test]
fn s7_pathless_urn_keys() {
    let document = patch_user(
        ivo(),
        json!([{"op": "add", "value": {
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department": "Depot South",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "E-1042"
        }}]),
    );
    assert_eq!(
        document,
        json!({
            "schemas": [USER_URN, ENTERPRISE],
            "userName": "ivo.brandt@lockers.example",
            "active": true,
            ENTERPRISE: {"department": "Depot South", "employeeNumber": "E-1042"}
        })
    );
}

#[test]
fn s7_pathless_extension_object() {
    let document = patch_user(
        ivo(),
        json!([{"op": "replace", "value": {
            ENTERPRISE: {"department": "Depot South", "manager": "u-9b0e"},
            CUSTOM_URN: {"badgeNumber": "0A1B"}
        }}]),
    );
    assert_eq!(
        document,
        json!({
            "schemas": [USER_URN, ENTERPRISE, CUSTOM_URN],
            "userName": "ivo.brandt@lockers.example",
            "active": true,
            ENTERPRISE: {"department": "Depot South", "manager": {"value": "u-9b0e"}},
            CUSTOM_URN: {"badgeNumber": "0A1B"}
        })
    );
}

#[test]
fn s8_filtered_add_creates_missing_value() {
    for op in ["Add", "add", "replace"] {
        let document = patch_user(
            ivo(),
            json!([{"op": op, "path": "emails[type eq \"work\"].value", "value": "ivo.brandt@lockers.example"}]),
        );
        assert_eq!(
            document,
            json!({
                "schemas": [USER_URN],
                "userName": "ivo.brandt@lockers.example",
                "active": true,
                "emails": [{"type": "work", "value": "ivo.brandt@lockers.example", "primary": true}]
            }),
            "{op}"
        );
    }
}

#[test]
fn s8_created_value_is_not_primary_beside_others() {
    let mut user = ivo();
    user["emails"] = json!([{"type": "home", "value": "ivo@home.example", "primary": true}]);
    let document = patch_user(
        user,
        json!([{"op": "Add", "path": "emails[type eq \"work\"].value", "value": "ivo.brandt@lockers.example"}]),
    );
    assert_eq!(
        document["emails"],
        json!([
            {"type": "home", "value": "ivo@home.example", "primary": true},
            {"type": "work", "value": "ivo.brandt@lockers.example"}
        ])
    );
}

#[test]
fn s8_addresses_are_created_from_the_filter() {
    let document = patch_user(
        ivo(),
        json!([
            {"op": "Add", "path": "addresses[type eq \"work\"].locality", "value": "Bremen"},
            {"op": "Add", "path": "addresses[type eq \"work\"].postalCode", "value": "28195"}
        ]),
    );
    assert_eq!(
        document["addresses"],
        json!([{"type": "work", "locality": "Bremen", "postalCode": "28195", "primary": true}])
    );
}

#[test]
fn s8_filter_that_cannot_describe_a_value_is_no_target() {
    let error = patch_user_error(
        ivo(),
        json!([{"op": "replace", "path": "emails[type ne \"work\"].value", "value": "a@x"}]),
    );
    assert_error(&error, ScimType::NoTarget, &["emails"]);
}

#[test]
fn s9_filtered_replace_keeps_siblings() {
    let mut user = ivo();
    user["emails"] = json!([
        {"type": "work", "value": "mira.okafor@lockers.example", "primary": true},
        {"type": "home", "value": "mira@home.example"}
    ]);
    let document = patch_user(
        user,
        json!([{"op": "replace", "path": "emails[type eq \"work\"].value", "value": "m.okafor@lockers.example"}]),
    );
    assert_eq!(
        document["emails"],
        json!([
            {"type": "work", "value": "m.okafor@lockers.example", "primary": true},
            {"type": "home", "value": "mira@home.example"}
        ])
    );
}

#[test]
fn s10_typeless_email_is_matched_as_work() {
    let created = normalize(
        ResourceKind::User,
        json!({
            "schemas": [USER_URN],
            "userName": "ivo.brandt@lockers.example",
            "emails": [{"value": "ivo.brandt@lockers.example", "primary": true}]
        }),
    )
    .unwrap()
    .value;
    let document = patch_user(
        created,
        json!([{"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "i.brandt@lockers.example"}]),
    );
    assert_eq!(
        document["emails"],
        json!([{"value": "i.brandt@lockers.example", "primary": true, "type": "work"}])
    );
}

#[test]
fn s11_manager_shapes_via_patch() {
    let expected = mira_with(json!({
        ENTERPRISE: {"employeeNumber": "E-1042", "department": "Depot North", "manager": {"value": "u-9b0e"}}
    }));
    let manager_path = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager";
    let shapes = [
        json!({"op": "Add", "path": manager_path, "value": "u-9b0e"}),
        json!({"op": "add", "path": manager_path, "value": {"value": "u-9b0e"}}),
        json!({"op": "replace", "path": manager_path, "value": [{"value": "u-9b0e", "$ref": "https://locker.example/scim/v2/Users/u-9b0e"}]}),
        json!({"op": "Add", "path": "manager", "value": [{"$ref": "https://locker.example/scim/v2/Users/u-9b0e", "value": "u-9b0e"}]}),
        json!({"op": "replace", "path": format!("{manager_path}.value"), "value": "u-9b0e"}),
        json!({"op": "replace", "value": {manager_path: "u-9b0e"}}),
    ];
    for operation in shapes {
        let document = patch_user(mira(), json!([operation.clone()]));
        assert_eq!(document, expected, "{operation}");
    }
}

#[test]
fn s11_manager_cleared_by_empty_null_or_remove() {
    let managed = mira_with(json!({
        ENTERPRISE: {"employeeNumber": "E-1042", "department": "Depot North", "manager": {"value": "u-9b0e"}}
    }));
    let manager_path = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager";
    let shapes = [
        json!({"op": "replace", "path": manager_path, "value": ""}),
        json!({"op": "replace", "path": manager_path, "value": null}),
        json!({"op": "replace", "path": manager_path, "value": {"value": ""}}),
        json!({"op": "remove", "path": manager_path}),
        json!({"op": "remove", "path": manager_path, "value": [{"value": "u-9b0e"}]}),
    ];
    for operation in shapes {
        let document = patch_user(managed.clone(), json!([operation.clone()]));
        assert_eq!(document, mira(), "{operation}");
    }
}

#[test]
fn s21_replace_members_is_authoritative() {
    let outcome =
        patch_group(json!([{"op": "replace", "path": "members", "value": [{"value": "u-7d1e"}]}]));
    assert_eq!(
        outcome.member_changes,
        vec![MemberChange::Replace(vec![member("u-7d1e")])]
    );

    let outcome = patch_group(json!([{"op": "replace", "path": "members", "value": []}]));
    assert_eq!(outcome.member_changes, vec![MemberChange::Replace(vec![])]);
}

#[test]
fn s22_single_member_add_is_one_delta() {
    let outcome = patch_group(
        json!([{"op": "Add", "path": "members", "value": [{"$ref": null, "value": "u-8a90"}]}]),
    );
    assert_eq!(
        outcome.member_changes,
        vec![MemberChange::Add(vec![member("u-8a90")])]
    );
}

#[test]
fn s23_readding_a_member_is_a_plain_add() {
    let body = json!([{"op": "Add", "path": "members", "value": [{"$ref": null, "value": "u-7d1e"}, {"value": "u-7d1e"}]}]);
    let outcome = patch_group(body);
    assert_eq!(
        outcome.member_changes,
        vec![MemberChange::Add(vec![member("u-7d1e")])]
    );
}

#[test]
fn s24_removing_an_absent_member_is_not_an_error() {
    let outcome = patch_group(json!([{"op": "Remove", "path": "members", "value": [
        {"$ref": null, "value": "u-already-gone"}
    ]}]));
    assert_eq!(
        outcome.member_changes,
        vec![MemberChange::Remove(vec!["u-already-gone".into()])]
    );
}

#[test]
fn s25_patch_without_members_changes_no_membership() {
    let outcome = patch_group(
        json!([{"op": "replace", "value": {"displayName": "Bank B Night Shift (old)"}}]),
    );
    assert_eq!(outcome.member_changes, vec![]);
    assert!(outcome.document.get("members").is_none());
}

// ---------------------------------------------------------------------------
// Members: other shapes

#[test]
fn remove_members_without_value_removes_all() {
    for operation in [
        json!({"op": "remove", "path": "members"}),
        json!({"op": "remove", "path": "members", "value": null}),
    ] {
        let outcome = patch_group(json!([operation.clone()]));
        assert_eq!(
            outcome.member_changes,
            vec![MemberChange::RemoveAll],
            "{operation}"
        );
    }
}

#[test]
fn empty_member_lists_change_nothing() {
    let outcome = patch_group(json!([
        {"op": "remove", "path": "members", "value": []},
        {"op": "add", "path": "members", "value": []}
    ]));
    assert_eq!(outcome.member_changes, vec![]);
}

#[test]
fn member_paths_that_are_not_supported() {
    let error = patch_group_error(
        json!([{"op": "replace", "path": "members[value eq \"u-1\"].value", "value": "u-2"}]),
    );
    assert_error(&error, ScimType::InvalidPath, &["members.value"]);

    let error = patch_group_error(
        json!([{"op": "add", "path": "members[value eq \"u-1\"]", "value": {"value": "u-1"}}]),
    );
    assert_error(&error, ScimType::InvalidPath, &["remove"]);

    let error = patch_group_error(
        json!([{"op": "add", "path": "members", "value": [{"display": "Mira"}]}]),
    );
    assert_error(&error, ScimType::InvalidValue, &["value"]);
}

// ---------------------------------------------------------------------------
// Request structure and paths

#[test]
fn operations_key_matches_in_any_case() {
    let body = json!({"schemas": [PATCH_OP_URN], "operations": [{"OP": "replace", "PATH": "title", "VALUE": "Lead"}]});
    let operations = parse_operations(ResourceKind::User, &body).unwrap();
    let outcome = apply(ResourceKind::User, mira(), &operations).unwrap();
    assert_eq!(outcome.document, mira_with(json!({"title": "Lead"})));
}

#[test]
fn malformed_bodies_are_invalid_syntax() {
    for body in [
        json!([]),
        json!({"schemas": [PATCH_OP_URN]}),
        json!({"Operations": []}),
        json!({"Operations": {"op": "add"}}),
        json!({"Operations": ["add"]}),
        json!({"Operations": [{"op": "add", "path": "title"}]}),
        json!({"Operations": [{"op": "replace", "value": "x"}]}),
    ] {
        let error = parse_operations(ResourceKind::User, &body).unwrap_err();
        assert_error(&error, ScimType::InvalidSyntax, &[]);
    }
}

#[test]
fn remove_without_path_is_no_target() {
    let error = patch_user_error(mira(), json!([{"op": "remove", "value": {"title": "x"}}]));
    assert_error(&error, ScimType::NoTarget, &["path"]);
}

#[test]
fn unknown_or_malformed_paths_are_invalid_path() {
    for path in [
        "shoeSize",
        "name.nickname",
        "emails[type eq \"work\"",
        "name[givenName eq \"Mira\"]",
        "title[value eq \"x\"]",
        "urn:example:other:2.0:User:department",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:badge",
        "",
    ] {
        let error = patch_user_error(
            mira(),
            json!([{"op": "replace", "path": path, "value": "x"}]),
        );
        assert_error(&error, ScimType::InvalidPath, &[]);
    }
    let error = patch_user_error(
        mira(),
        json!([{"op": "replace", "path": "shoeSize", "value": "x"}]),
    );
    assert!(error.detail.contains("shoeSize"), "{}", error.detail);

    let error = patch_user_error(
        mira(),
        json!([{"op": "replace", "value": {"shoeSize": "44"}}]),
    );
    assert_error(&error, ScimType::InvalidPath, &["shoeSize"]);

    let error = patch_group_error(json!([{"op": "replace", "path": "userName", "value": "x"}]));
    assert_error(&error, ScimType::InvalidPath, &["userName"]);

    let path = "emails[label eq \"work\"].value";
    let error = patch_user_error(
        mira(),
        json!([{"op": "replace", "path": path, "value": "x"}]),
    );
    assert_error(
        &error,
        ScimType::InvalidPath,
        &["emails[label eq", "no sub-attribute \"label\""],
    );
}

#[test]
fn paths_resolve_case_insensitively() {
    let document = patch_user(
        mira(),
        json!([
            {"op": "replace", "path": "NAME.FAMILYNAME", "value": "Okafor-Lind"},
            {"op": "replace", "path": "Emails[Type EQ \"WORK\"].Value", "value": "m@x"},
            {"op": "replace", "path": "URN:IETF:PARAMS:SCIM:SCHEMAS:EXTENSION:ENTERPRISE:2.0:USER:DEPARTMENT", "value": "Depot South"}
        ]),
    );
    assert_eq!(
        document,
        mira_with(json!({
            "name": {"givenName": "Mira", "familyName": "Okafor-Lind", "formatted": "Mira Okafor"},
            "emails": [{"primary": true, "type": "work", "value": "m@x"}],
            ENTERPRISE: {"employeeNumber": "E-1042", "department": "Depot South"}
        }))
    );
}

#[test]
fn path_text_renders_schema_spelling() {
    let cases = [
        ("NAME.givenname", "name.givenName"),
        (
            "emails[TYPE eq \"work\"].VALUE",
            "emails[type eq \"work\"].value",
        ),
        (
            "department",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
        ),
        (
            "urn:ietf:params:scim:schemas:core:2.0:User:userName",
            "userName",
        ),
        (
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:user:MANAGER.value",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
        ),
    ];
    for (text, expected) in cases {
        let path = PatchPathRef::parse(ResourceKind::User, text).unwrap();
        assert_eq!(path.path_text(ResourceKind::User), expected, "{text}");
    }
}

// ---------------------------------------------------------------------------
// Mutability and required attributes

#[test]
fn read_only_attributes_are_mutability_errors() {
    for (path, value) in [
        ("id", json!("u-2")),
        ("meta.created", json!("2026-01-01T00:00:00Z")),
        ("groups", json!([{"value": "g-1"}])),
        (
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.displayName",
            json!("Boss"),
        ),
    ] {
        let error = patch_user_error(
            mira(),
            json!([{"op": "replace", "path": path, "value": value}]),
        );
        assert_error(&error, ScimType::Mutability, &["readOnly"]);
    }
    let error = patch_user_error(mira(), json!([{"op": "replace", "value": {"id": "u-2"}}]));
    assert_error(&error, ScimType::Mutability, &["id"]);
}

#[test]
fn required_attributes_cannot_be_removed_or_cleared() {
    let error = patch_user_error(mira(), json!([{"op": "remove", "path": "userName"}]));
    assert_error(&error, ScimType::InvalidValue, &["userName", "required"]);

    let error = patch_user_error(
        mira(),
        json!([{"op": "replace", "path": "userName", "value": ""}]),
    );
    assert_error(&error, ScimType::InvalidValue, &["userName", "required"]);

    let error = patch_group_error(json!([{"op": "Remove", "path": "displayName"}]));
    assert_error(&error, ScimType::InvalidValue, &["displayName", "required"]);

    let error = patch_group_error(json!([{"op": "replace", "value": {"displayName": null}}]));
    assert_error(&error, ScimType::InvalidValue, &["displayName", "required"]);
}

#[test]
fn wrongly_typed_values_are_invalid_value() {
    for (path, value) in [
        ("title", json!(5)),
        ("emails", json!("a@x")),
        ("name", json!("Mira")),
        ("emails[type eq \"work\"]", json!(7)),
    ] {
        let error = patch_user_error(
            mira(),
            json!([{"op": "replace", "path": path, "value": value}]),
        );
        assert_error(&error, ScimType::InvalidValue, &[]);
    }
}

// ---------------------------------------------------------------------------
// Single-valued and complex attributes

#[test]
fn replace_complex_merges_sub_attributes() {
    let document = patch_user(
        mira(),
        json!([{"op": "replace", "path": "name", "value": {"familyName": "Okafor-Lind", "formatted": ""}}]),
    );
    assert_eq!(
        document,
        mira_with(json!({"name": {"givenName": "Mira", "familyName": "Okafor-Lind"}}))
    );
}

#[test]
fn clearing_last_sub_attribute_removes_complex() {
    let document = patch_user(
        mira(),
        json!([
            {"op": "remove", "path": "name.givenName"},
            {"op": "remove", "path": "name.familyName"},
            {"op": "replace", "path": "name.formatted", "value": null}
        ]),
    );
    assert_eq!(document, mira_with(json!({"name": null})));
}

#[test]
fn removing_last_extension_attribute_updates_schemas() {
    let document = patch_user(
        mira(),
        json!([
            {"op": "remove", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"},
            {"op": "replace", "value": {"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": ""}}
        ]),
    );
    let mut expected = mira_with(json!({ENTERPRISE: null}));
    expected["schemas"] = json!([USER_URN]);
    assert_eq!(document, expected);
}

#[test]
fn extension_urn_as_path_expands() {
    let document = patch_user(
        ivo(),
        json!([{"op": "add", "path": ENTERPRISE, "value": {"department": "Depot South"}}]),
    );
    assert_eq!(document[ENTERPRISE], json!({"department": "Depot South"}));

    let error = patch_user_error(ivo(), json!([{"op": "remove", "path": ENTERPRISE}]));
    assert_error(
        &error,
        ScimType::InvalidPath,
        &["attribute of the extension"],
    );
}

#[test]
fn custom_extension_attribute_keeps_first_spelling() {
    let mut user = ivo();
    user[CUSTOM_URN] = json!({"badgeNumber": "0A1B"});
    user["schemas"] = json!([USER_URN, CUSTOM_URN]);
    let document = patch_user(
        user,
        json!([
            {"op": "replace", "path": "urn:ietf:params:scim:schemas:extension:LOCKGATE:2.0:User:BADGENUMBER", "value": "0A1C"},
            {"op": "add", "path": format!("{CUSTOM_URN}:nightAccess"), "value": true}
        ]),
    );
    assert_eq!(
        document[CUSTOM_URN],
        json!({"badgeNumber": "0A1C", "nightAccess": true})
    );
    assert_eq!(document["schemas"], json!([USER_URN, CUSTOM_URN]));

    let error = patch_user_error(
        ivo(),
        json!([{"op": "add", "path": format!("{CUSTOM_URN}:badgeNumber"), "value": ["a"]}]),
    );
    assert_error(&error, ScimType::InvalidValue, &["badgeNumber"]);
}

// ---------------------------------------------------------------------------
// Multi-valued attributes

#[test]
fn add_to_multi_valued_appends_and_skips_duplicates() {
    let document = patch_user(
        mira(),
        json!([{"op": "add", "path": "emails", "value": [
            {"type": "work", "value": "mira.okafor@lockers.example", "primary": true},
            {"type": "home", "value": "mira@home.example"}
        ]}]),
    );
    assert_eq!(
        document["emails"],
        json!([
            {"primary": true, "type": "work", "value": "mira.okafor@lockers.example"},
            {"type": "home", "value": "mira@home.example"}
        ])
    );
}

#[test]
fn add_with_primary_moves_primary() {
    let document = patch_user(
        mira(),
        json!([{"op": "add", "path": "emails", "value": {"value": "mira@home.example", "type": "home", "primary": "True"}}]),
    );
    assert_eq!(
        document["emails"],
        json!([
            {"primary": false, "type": "work", "value": "mira.okafor@lockers.example"},
            {"value": "mira@home.example", "type": "home", "primary": true}
        ])
    );
}

#[test]
fn replace_multi_valued_replaces_all() {
    let document = patch_user(
        mira(),
        json!([{"op": "replace", "path": "phoneNumbers", "value": [{"value": "+10000000002"}]}]),
    );
    assert_eq!(
        document["phoneNumbers"],
        json!([{"value": "+10000000002", "type": "work"}])
    );
}

#[test]
fn remove_multi_valued_without_filter_removes_all() {
    let document = patch_user(mira(), json!([{"op": "remove", "path": "phoneNumbers"}]));
    assert_eq!(document, mira_with(json!({"phoneNumbers": null})));
}

#[test]
fn remove_multi_valued_with_value_removes_matching() {
    let mut user = mira();
    user["phoneNumbers"] = json!([
        {"type": "mobile", "value": "+10000000001"},
        {"type": "work", "value": "+10000000002"}
    ]);
    let document = patch_user(
        user,
        json!([{"op": "remove", "path": "phoneNumbers", "value": [{"value": "+10000000002"}]}]),
    );
    assert_eq!(
        document["phoneNumbers"],
        json!([{"type": "mobile", "value": "+10000000001"}])
    );
}

#[test]
fn remove_with_filter_removes_matching_elements() {
    let mut user = mira();
    user["emails"] = json!([
        {"type": "work", "value": "mira.okafor@lockers.example", "primary": true},
        {"type": "home", "value": "mira@home.example"}
    ]);
    let document = patch_user(
        user,
        json!([{"op": "remove", "path": "emails[type eq \"home\"]"}]),
    );
    assert_eq!(document, mira());
}

#[test]
fn remove_with_filter_and_sub_attribute_keeps_element() {
    let mut user = mira();
    user["emails"][0]["display"] = json!("Work mail");
    let document = patch_user(
        user,
        json!([{"op": "remove", "path": "emails[type eq \"work\"].display"}]),
    );
    assert_eq!(document, mira());
}

#[test]
fn remove_with_unmatched_filter_is_a_no_op() {
    let document = patch_user(
        mira(),
        json!([{"op": "remove", "path": "emails[type eq \"other\"]"}]),
    );
    assert_eq!(document, mira());
}

#[test]
fn filtered_replace_without_sub_attribute_merges() {
    let mut user = ivo();
    user["addresses"] = json!([
        {"type": "work", "locality": "Bremen", "postalCode": "28195"},
        {"type": "home", "locality": "Hamburg"}
    ]);
    let document = patch_user(
        user,
        json!([{"op": "replace", "path": "addresses[type eq \"work\"]", "value": {"locality": "Oldenburg", "postalCode": ""}}]),
    );
    assert_eq!(
        document["addresses"],
        json!([
            {"type": "work", "locality": "Oldenburg"},
            {"type": "home", "locality": "Hamburg"}
        ])
    );
}

#[test]
fn filtered_replace_without_sub_attribute_creates_when_absent() {
    let document = patch_user(
        ivo(),
        json!([{"op": "replace", "path": "phoneNumbers[type eq \"fax\"]", "value": {"value": "+10000000009"}}]),
    );
    assert_eq!(
        document["phoneNumbers"],
        json!([{"type": "fax", "value": "+10000000009", "primary": true}])
    );
}

#[test]
fn sub_attribute_path_without_filter_applies_to_every_value() {
    let mut user = ivo();
    user["phoneNumbers"] = json!([
        {"type": "work", "value": "+1", "display": "desk"},
        {"type": "mobile", "value": "+2", "display": "cell"}
    ]);
    let document = patch_user(
        user,
        json!([{"op": "remove", "path": "phoneNumbers.display"}]),
    );
    assert_eq!(
        document["phoneNumbers"],
        json!([{"type": "work", "value": "+1"}, {"type": "mobile", "value": "+2"}])
    );
}
