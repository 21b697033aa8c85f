//! The discovery documents: `/ServiceProviderConfig`, `/Schemas` and
//! `/ResourceTypes` (RFC 7644 §4).
//!
//! The documents contain no base URL, so one copy serves every tenant and
//! can be committed under `crates/scim/contract/`. The HTTP layer adds
//! `meta.location` per request with [`with_locations`].

use serde_json::{Map, Value, json};

use crate::schema::{
    ALL_SCHEMAS, AttrDef, ENTERPRISE_USER_URN, LIST_RESPONSE_URN, ResourceKind, SchemaDef,
};

pub const SERVICE_PROVIDER_CONFIG_URN: &str =
    "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";
pub const SCHEMA_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";
pub const RESOURCE_TYPE_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";

/// Maximum number of resources in one list response. The list endpoint caps
/// the `count` query parameter at this value, and `/ServiceProviderConfig`
/// advertises it as `filter.maxResults` (RFC 7643 §5).
pub const MAX_PAGE_SIZE: usize = 1000;

/// Maximum size in bytes of a request body the server accepts. RFC 7643 §5
/// has a payload limit only for bulk requests, so no document advertises it.
pub const MAX_PAYLOAD_BYTES: usize = 1_048_576;

const RESOURCE_KINDS: [ResourceKind; 2] = [ResourceKind::User, ResourceKind::Group];

/// Builds the `/ServiceProviderConfig` document (RFC 7643 §5).
///
/// `etag.supported` is false because Lockgate emits `meta.version` but does
/// not evaluate `If-Match` or `If-None-Match`. Bulk is unsupported, so its
/// limits are 0.
pub fn service_provider_config() -> Value {
    json!({
        "schemas": [SERVICE_PROVIDER_CONFIG_URN],
        "patch": {"supported": true},
        "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": true, "maxResults": MAX_PAGE_SIZE},
        "changePassword": {"supported": false},
        "sort": {"supported": true},
        "etag": {"supported": false},
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "OAuth Bearer Token",
            "description": "Authentication with a bearer token in the Authorization header. \
                The token is either the tenant's long-lived SCIM secret token or an access \
                token issued by the tenant's OAuth 2.0 client-credentials token endpoint.",
            "specUri": "https://www.rfc-editor.org/info/rfc6750",
            "primary": true,
        }],
        "meta": {"resourceType": "ServiceProviderConfig"},
    })
}

/// Builds the `/Schemas` list response: the User, EnterpriseUser and Group
/// schemas in the RFC 7643 §7 format.
pub fn schemas() -> Value {
    let resources = ALL_SCHEMAS.iter().map(|def| schema_document(def)).collect();
    discovery_list(resources)
}

/// Builds the document of `GET /Schemas/{id}`. Schema URNs compare without
/// regard to case, as `SchemaRef::from_urn` compares them in resource bodies.
pub fn schema(id: &str) -> Option<Value> {
    ALL_SCHEMAS
        .iter()
        .find(|def| def.id.eq_ignore_ascii_case(id))
        .map(|def| schema_document(def))
}

/// Builds the `/ResourceTypes` list response (RFC 7643 §6).
pub fn resource_types() -> Value {
    let resources = RESOURCE_KINDS
        .into_iter()
        .map(resource_type_document)
        .collect();
    discovery_list(resources)
}

/// Builds the document of `GET /ResourceTypes/{name}`, where `name` is
/// `User` or `Group` in any letter case.
pub fn resource_type(name: &str) -> Option<Value> {
    RESOURCE_KINDS
        .into_iter()
        .find(|kind| kind.as_str().eq_ignore_ascii_case(name))
        .map(resource_type_document)
}

/// Adds `meta.location` to a discovery document: to each resource of a
/// `/Schemas` or `/ResourceTypes` list response, or to a single Schema,
/// ResourceType or ServiceProviderConfig resource.
///
/// `base_url` is the SCIM base URL of the tenant, such as
/// `https://lockers.example/scim/v2`. A trailing `/` is ignored. Resources
/// with any other `meta.resourceType` are returned unchanged.
pub fn with_locations(mut doc: Value, base_url: &str) -> Value {
    let base_url = base_url.trim_end_matches('/');
    if let Some(resources) = doc.get_mut("Resources").and_then(Value::as_array_mut) {
        for resource in resources {
            add_location(resource, base_url);
        }
    } else {
        add_location(&mut doc, base_url);
    }
    doc
}

fn add_location(resource: &mut Value, base_url: &str) {
    let id = resource
        .get("id")
        .and_then(Value::as_str)
        .map(str::to_string);
    let Some(meta) = resource.get_mut("meta").and_then(Value::as_object_mut) else {
        return;
    };
    let location = match (meta.get("resourceType").and_then(Value::as_str), id) {
        (Some("ServiceProviderConfig"), _) => format!("{base_url}/ServiceProviderConfig"),
        (Some("Schema"), Some(id)) => format!("{base_url}/Schemas/{id}"),
        (Some("ResourceType"), Some(id)) => format!("{base_url}/ResourceTypes/{id}"),
        _ => return,
    };
    meta.insert("location".to_string(), Value::String(location));
}

/// Wraps discovery resources in a list response. The lists are never paged,
/// so `itemsPerPage` equals `totalResults`.
/// A custom User extension as a tenant uses it: its URN and the attribute
/// names its users carry, in the spelling first received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomExtension {
    pub urn: String,
    pub attributes: Vec<String>,
}

/// Builds the Schema resource of a custom extension. Every attribute has the
/// characteristics Lockgate applies to custom attributes: single-valued,
/// read-write, compared without regard to case.
pub fn custom_extension_schema(extension: &CustomExtension) -> Value {
    let name = extension
        .urn
        .strip_prefix(crate::schema::EXTENSION_PREFIX)
        .and_then(|rest| rest.split(':').next())
        .unwrap_or("Custom");
    let attributes: Vec<Value> = extension
        .attributes
        .iter()
        .map(|attr| {
            let mut doc = attribute_document(&crate::schema::CUSTOM_ATTRIBUTE);
            doc["name"] = json!(attr);
            doc
        })
        .collect();
    json!({
        "schemas": [SCHEMA_URN],
        "id": extension.urn,
        "name": name,
        "description": "A custom User extension this tenant's identity provider sends; \
                        its attributes are the ones received so far.",
        "attributes": attributes,
        "meta": {"resourceType": "Schema"},
    })
}

/// Adds a tenant's custom extensions to the `/Schemas` list, or to the User
/// entry of the `/ResourceTypes` list, so discovery lists every schema the
/// tenant's resources use.
pub fn with_custom_extensions(mut list: Value, extensions: &[CustomExtension]) -> Value {
    let Some(resources) = list.get_mut("Resources").and_then(Value::as_array_mut) else {
        return list;
    };
    let is_schema_list = resources
        .first()
        .is_some_and(|r| r["meta"]["resourceType"] == "Schema");
    if is_schema_list {
        resources.extend(extensions.iter().map(custom_extension_schema));
    } else {
        for resource in resources.iter_mut().filter(|r| r["id"] == "User") {
            add_schema_extensions(resource, extensions);
        }
    }
    let count = resources.len();
    list["totalResults"] = json!(count);
    list["itemsPerPage"] = json!(count);
    list
}

/// Adds custom extensions to a User ResourceType document.
pub fn add_schema_extensions(resource_type: &mut Value, extensions: &[CustomExtension]) {
    if let Some(list) = resource_type["schemaExtensions"].as_array_mut() {
        list.extend(
            extensions
                .iter()
                .map(|e| json!({"schema": e.urn, "required": false})),
        );
    }
}

fn discovery_list(resources: Vec<Value>) -> Value {
    json!({
        "schemas": [LIST_RESPONSE_URN],
        "totalResults": resources.len(),
        "itemsPerPage": resources.len(),
        "startIndex": 1,
        "Resources": resources,
    })
}

fn schema_document(def: &SchemaDef) -> Value {
    let attributes: Vec<Value> = def.attributes.iter().map(attribute_document).collect();
    json!({
        "schemas": [SCHEMA_URN],
        "id": def.id,
        "name": def.name,
        "description": def.description,
        "attributes": attributes,
        "meta": {"resourceType": "Schema"},
    })
}

/// Writes one attribute definition with every RFC 7643 §7 characteristic.
/// `canonicalValues`, `referenceTypes` and `subAttributes` appear only when
/// non-empty, so no characteristic is ever `null`, which Microsoft's SCIM
/// validator rejects.
fn attribute_document(def: &AttrDef) -> Value {
    let mut out = Map::new();
    out.insert("name".into(), json!(def.name));
    out.insert("type".into(), json!(def.kind.as_str()));
    out.insert("multiValued".into(), json!(def.multi_valued));
    out.insert("description".into(), json!(def.description));
    out.insert("required".into(), json!(def.required));
    out.insert("caseExact".into(), json!(def.case_exact));
    if !def.canonical_values.is_empty() {
        out.insert("canonicalValues".into(), json!(def.canonical_values));
    }
    if !def.reference_types.is_empty() {
        out.insert("referenceTypes".into(), json!(def.reference_types));
    }
    out.insert("mutability".into(), json!(def.mutability.as_str()));
    out.insert("returned".into(), json!(def.returned.as_str()));
    out.insert("uniqueness".into(), json!(def.uniqueness.as_str()));
    if !def.sub_attributes.is_empty() {
        let subs: Vec<Value> = def.sub_attributes.iter().map(attribute_document).collect();
        out.insert("subAttributes".into(), Value::Array(subs));
    }
    Value::Object(out)
}

fn resource_type_document(kind: ResourceKind) -> Value {
    let schema = kind.core_schema();
    let mut doc = json!({
        "schemas": [RESOURCE_TYPE_URN],
        "id": kind.as_str(),
        "name": kind.as_str(),
        "endpoint": format!("/{}", kind.endpoint()),
        "description": schema.description,
        "schema": schema.id,
    });
    if kind == ResourceKind::User {
        doc["schemaExtensions"] = json!([{"schema": ENTERPRISE_USER_URN, "required": false}]);
    }
    doc["meta"] = json!({"resourceType": "ResourceType"});
    doc
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{GROUP_URN, USER_URN};

    #[test]
    fn schemas_list_has_three_schemas() {
        let doc = schemas();
        assert_eq!(doc["schemas"], json!([LIST_RESPONSE_URN]));
        assert_eq!(doc["totalResults"], 3);
        assert_eq!(doc["itemsPerPage"], 3);
        assert_eq!(doc["startIndex"], 1);
        let ids: Vec<&str> = doc["Resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, [USER_URN, ENTERPRISE_USER_URN, GROUP_URN]);
    }

    #[test]
    fn schema_lookup_ignores_case() {
        let doc = schema(&USER_URN.to_ascii_uppercase()).unwrap();
        assert_eq!(doc["id"], USER_URN);
        assert_eq!(doc["meta"]["resourceType"], "Schema");
        assert!(schema("urn:example:unknown").is_none());
    }

    #[test]
    fn optional_characteristics_omitted_when_empty() {
        let doc = schema(USER_URN).unwrap();
        let user_name = &doc["attributes"][0];
        assert_eq!(user_name["name"], "userName");
        assert_eq!(user_name["uniqueness"], "server");
        assert_eq!(user_name["required"], true);
        assert!(user_name.get("canonicalValues").is_none());
        assert!(user_name.get("referenceTypes").is_none());
        assert!(user_name.get("subAttributes").is_none());
    }

    #[test]
    fn member_ref_lists_reference_types() {
        let doc = schema(GROUP_URN).unwrap();
        let members = doc["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["name"] == "members")
            .unwrap();
        let reference = members["subAttributes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["name"] == "$ref")
            .unwrap();
        assert_eq!(reference["type"], "reference");
        assert_eq!(reference["referenceTypes"], json!(["User", "Group"]));
    }

    #[test]
    fn resource_types_describe_endpoints() {
        let user = resource_type("user").unwrap();
        assert_eq!(user["endpoint"], "/Users");
        assert_eq!(user["schema"], USER_URN);
        assert_eq!(
            user["schemaExtensions"],
            json!([{"schema": ENTERPRISE_USER_URN, "required": false}])
        );

        let group = resource_type("Group").unwrap();
        assert_eq!(group["endpoint"], "/Groups");
        assert!(group.get("schemaExtensions").is_none());
        assert!(resource_type("Locker").is_none());
        assert_eq!(resource_types()["totalResults"], 2);
    }

    #[test]
    fn locations_added_to_list_resources() {
        let doc = with_locations(schemas(), "https://lockers.example/scim/v2/");
        assert_eq!(
            doc["Resources"][0]["meta"]["location"],
            format!("https://lockers.example/scim/v2/Schemas/{USER_URN}")
        );

        let doc = with_locations(resource_types(), "https://lockers.example/scim/v2");
        assert_eq!(
            doc["Resources"][1]["meta"]["location"],
            "https://lockers.example/scim/v2/ResourceTypes/Group"
        );
    }

    #[test]
    fn locations_added_to_single_documents() {
        let doc = with_locations(service_provider_config(), "https://lockers.example/scim/v2");
        assert_eq!(
            doc["meta"]["location"],
            "https://lockers.example/scim/v2/ServiceProviderConfig"
        );

        let doc = with_locations(
            resource_type("User").unwrap(),
            "https://lockers.example/scim/v2",
        );
        assert_eq!(
            doc["meta"]["location"],
            "https://lockers.example/scim/v2/ResourceTypes/User"
        );
    }

    #[test]
    fn service_provider_config_values() {
        let doc = service_provider_config();
        assert_eq!(doc["patch"]["supported"], true);
        assert_eq!(doc["bulk"]["supported"], false);
        assert_eq!(doc["filter"]["maxResults"], MAX_PAGE_SIZE);
        assert_eq!(doc["etag"]["supported"], false);
        assert_eq!(doc["sort"]["supported"], true);
        assert_eq!(doc["authenticationSchemes"][0]["type"], "oauthbearertoken");
        assert_eq!(doc["authenticationSchemes"][0]["primary"], true);
        assert!(doc.get("id").is_none(), "RFC 7643 §5: the config has no id");
    }
}
