//! The SCIM schemas Lockgate serves (RFC 7643 §4 and §8.7.1), as data.
//!
//! One table drives attribute-name canonicalisation, validation of POST, PUT
//! and PATCH, the case sensitivity of filters, and the `/Schemas` document,
//! so what `/Schemas` advertises is what the code enforces.

pub const USER_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const ENTERPRISE_USER_URN: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const PATCH_OP_URN: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
pub const LIST_RESPONSE_URN: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const ERROR_URN: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

/// Prefix shared by every extension schema URN (RFC 7643 §3.3); Entra names
/// custom attributes `urn:ietf:params:scim:schemas:extension:<name>:2.0:User:<attr>`.
pub const EXTENSION_PREFIX: &str = "urn:ietf:params:scim:schemas:extension:";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrType {
    String,
    Boolean,
    DateTime,
    Reference,
    Complex,
    Binary,
}

impl AttrType {
    pub fn as_str(self) -> &'static str {
        match self {
            AttrType::String => "string",
            AttrType::Boolean => "boolean",
            AttrType::DateTime => "dateTime",
            AttrType::Reference => "reference",
            AttrType::Complex => "complex",
            AttrType::Binary => "binary",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutability {
    ReadOnly,
    ReadWrite,
    Immutable,
}

impl Mutability {
    pub fn as_str(self) -> &'static str {
        match self {
            Mutability::ReadOnly => "readOnly",
            Mutability::ReadWrite => "readWrite",
            Mutability::Immutable => "immutable",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Returned {
    Always,
    Default,
}

impl Returned {
    pub fn as_str(self) -> &'static str {
        match self {
            Returned::Always => "always",
            Returned::Default => "default",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Uniqueness {
    None,
    Server,
}

impl Uniqueness {
    pub fn as_str(self) -> &'static str {
        match self {
            Uniqueness::None => "none",
            Uniqueness::Server => "server",
        }
    }
}

/// One attribute definition (RFC 7643 §7).
#[derive(Debug)]
pub struct AttrDef {
    pub name: &'static str,
    pub kind: AttrType,
    pub multi_valued: bool,
    pub required: bool,
    pub case_exact: bool,
    pub mutability: Mutability,
    pub returned: Returned,
    pub uniqueness: Uniqueness,
    pub description: &'static str,
    pub canonical_values: &'static [&'static str],
    pub reference_types: &'static [&'static str],
    pub sub_attributes: &'static [AttrDef],
}

impl AttrDef {
    /// Finds a sub-attribute by name, ignoring case (RFC 7643 §2.1).
    pub fn sub_attribute(&self, name: &str) -> Option<&'static AttrDef> {
        self.sub_attributes
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
    }

    pub fn is_read_only(&self) -> bool {
        self.mutability == Mutability::ReadOnly
    }
}

/// Defaults for a simple, single-valued, read-write, case-insensitive string.
const fn string(name: &'static str, description: &'static str) -> AttrDef {
    AttrDef {
        name,
        kind: AttrType::String,
        multi_valued: false,
        required: false,
        case_exact: false,
        mutability: Mutability::ReadWrite,
        returned: Returned::Default,
        uniqueness: Uniqueness::None,
        description,
        canonical_values: &[],
        reference_types: &[],
        sub_attributes: &[],
    }
}

const fn boolean(name: &'static str, description: &'static str) -> AttrDef {
    AttrDef {
        kind: AttrType::Boolean,
        ..string(name, description)
    }
}

const fn multi(name: &'static str, description: &'static str, subs: &'static [AttrDef]) -> AttrDef {
    AttrDef {
        kind: AttrType::Complex,
        multi_valued: true,
        sub_attributes: subs,
        ..string(name, description)
    }
}

const fn complex(
    name: &'static str,
    description: &'static str,
    subs: &'static [AttrDef],
) -> AttrDef {
    AttrDef {
        kind: AttrType::Complex,
        sub_attributes: subs,
        ..string(name, description)
    }
}

const fn typed_values(kinds: &'static [&'static str]) -> AttrDef {
    AttrDef {
        canonical_values: kinds,
        ..string(
            "type",
            "A label for the value's function, such as work or home.",
        )
    }
}

const PRIMARY: AttrDef = boolean(
    "primary",
    "Whether this is the preferred value of the attribute.",
);
const DISPLAY: AttrDef = string("display", "A human-readable name, primarily for display.");

const EMAIL_SUBS: &[AttrDef] = &[
    string("value", "The email address."),
    DISPLAY,
    typed_values(&["work", "home", "other"]),
    PRIMARY,
];
const PHONE_SUBS: &[AttrDef] = &[
    string("value", "The phone number, stored exactly as sent."),
    DISPLAY,
    typed_values(&["work", "home", "mobile", "fax", "pager", "other"]),
    PRIMARY,
];
const IM_SUBS: &[AttrDef] = &[
    string("value", "The instant-messaging address."),
    DISPLAY,
    typed_values(&["aim", "gtalk", "icq", "xmpp", "msn", "skype", "qq", "yahoo"]),
    PRIMARY,
];
const PHOTO_SUBS: &[AttrDef] = &[
    AttrDef {
        kind: AttrType::Reference,
        case_exact: true,
        reference_types: &["external"],
        ..string("value", "The URL of a photo of the user.")
    },
    DISPLAY,
    typed_values(&["photo", "thumbnail"]),
    PRIMARY,
];
const ADDRESS_SUBS: &[AttrDef] = &[
    string(
        "formatted",
        "The full mailing address, formatted for display.",
    ),
    string("streetAddress", "The street address."),
    string("locality", "The city or locality."),
    string("region", "The state or region."),
    string("postalCode", "The postal code."),
    string("country", "The country."),
    typed_values(&["work", "home", "other"]),
    PRIMARY,
];
const NAME_SUBS: &[AttrDef] = &[
    string("formatted", "The full name, formatted for display."),
    string("familyName", "The family name."),
    string("givenName", "The given name."),
    string("middleName", "The middle name."),
    string("honorificPrefix", "The honorific prefix, such as Ms."),
    string("honorificSuffix", "The honorific suffix, such as III."),
];
const VALUE_DISPLAY_TYPE_PRIMARY: &[AttrDef] = &[
    string("value", "The value."),
    DISPLAY,
    string("type", "A label for the value's function."),
    PRIMARY,
];
const USER_GROUP_SUBS: &[AttrDef] = &[
    AttrDef {
        mutability: Mutability::ReadOnly,
        case_exact: true,
        ..string("value", "The id of a group the user is a direct member of.")
    },
    AttrDef {
        kind: AttrType::Reference,
        mutability: Mutability::ReadOnly,
        case_exact: true,
        reference_types: &["Group"],
        ..string("$ref", "The URI of the group.")
    },
    AttrDef {
        mutability: Mutability::ReadOnly,
        ..DISPLAY
    },
    AttrDef {
        mutability: Mutability::ReadOnly,
        canonical_values: &["direct"],
        ..string(
            "type",
            "How the user is a member; Lockgate reports direct memberships.",
        )
    },
];

pub const USER_ATTRIBUTES: &[AttrDef] = &[
    AttrDef {
        required: true,
        uniqueness: Uniqueness::Server,
        ..string(
            "userName",
            "Unique identifier for the user, compared case-insensitively. It may change.",
        )
    },
    complex("name", "The components of the user's name.", NAME_SUBS),
    string("displayName", "The name of the user, suitable for display."),
    string("nickName", "The casual name of the user."),
    AttrDef {
        kind: AttrType::Reference,
        reference_types: &["external"],
        ..string("profileUrl", "A URL of the user's online profile.")
    },
    string("title", "The user's title, such as Night supervisor."),
    string(
        "userType",
        "The relationship between the organisation and the user.",
    ),
    string(
        "preferredLanguage",
        "The user's preferred language, such as en-US.",
    ),
    string("locale", "The user's default location for localisation."),
    string("timezone", "The user's time zone in IANA format."),
    boolean(
        "active",
        "Whether the user may use Lockgate. False keeps the user and their memberships but denies every open.",
    ),
    multi("emails", "Email addresses for the user.", EMAIL_SUBS),
    multi("phoneNumbers", "Phone numbers for the user.", PHONE_SUBS),
    multi("ims", "Instant-messaging addresses for the user.", IM_SUBS),
    multi("photos", "URLs of photos of the user.", PHOTO_SUBS),
    multi(
        "addresses",
        "Physical mailing addresses for the user.",
        ADDRESS_SUBS,
    ),
    AttrDef {
        mutability: Mutability::ReadOnly,
        ..multi(
            "groups",
            "The groups the user is a direct member of, maintained through the Group resource.",
            USER_GROUP_SUBS,
        )
    },
    multi(
        "entitlements",
        "Entitlements of the user.",
        VALUE_DISPLAY_TYPE_PRIMARY,
    ),
    multi("roles", "Roles of the user.", VALUE_DISPLAY_TYPE_PRIMARY),
    multi(
        "x509Certificates",
        "X.509 certificates of the user, base64-encoded DER.",
        VALUE_DISPLAY_TYPE_PRIMARY,
    ),
];

const MANAGER_SUBS: &[AttrDef] = &[
    AttrDef {
        case_exact: true,
        ..string("value", "The id of the user's manager.")
    },
    AttrDef {
        kind: AttrType::Reference,
        case_exact: true,
        reference_types: &["User"],
        ..string("$ref", "The URI of the manager's User resource.")
    },
    AttrDef {
        mutability: Mutability::ReadOnly,
        ..string("displayName", "The manager's display name.")
    },
];

pub const ENTERPRISE_USER_ATTRIBUTES: &[AttrDef] = &[
    string("employeeNumber", "Identifier assigned by the organisation."),
    string("costCenter", "The cost centre."),
    string("organization", "The organisation."),
    string("division", "The division."),
    string("department", "The department."),
    complex("manager", "The user's manager.", MANAGER_SUBS),
];

const MEMBER_SUBS: &[AttrDef] = &[
    AttrDef {
        case_exact: true,
        mutability: Mutability::Immutable,
        ..string("value", "The id of a member User or Group.")
    },
    AttrDef {
        kind: AttrType::Reference,
        case_exact: true,
        mutability: Mutability::Immutable,
        reference_types: &["User", "Group"],
        ..string("$ref", "The URI of the member resource.")
    },
    AttrDef {
        mutability: Mutability::ReadOnly,
        ..DISPLAY
    },
    AttrDef {
        mutability: Mutability::Immutable,
        canonical_values: &["User", "Group"],
        ..string("type", "The type of the member resource.")
    },
];

pub const GROUP_ATTRIBUTES: &[AttrDef] = &[
    AttrDef {
        required: true,
        ..string(
            "displayName",
            "The name of the group, suitable for display.",
        )
    },
    multi(
        "members",
        "Direct members of the group. Membership changes apply row by row.",
        MEMBER_SUBS,
    ),
];

/// Attributes every resource has (RFC 7643 §3.1). They are not part of any
/// schema's `attributes` list, but filters and `sortBy` may name them.
pub const ID_ATTRIBUTE: AttrDef = AttrDef {
    case_exact: true,
    mutability: Mutability::ReadOnly,
    returned: Returned::Always,
    uniqueness: Uniqueness::Server,
    ..string("id", "Lockgate's identifier for the resource.")
};
pub const EXTERNAL_ID_ATTRIBUTE: AttrDef = AttrDef {
    case_exact: true,
    ..string(
        "externalId",
        "The provisioning client's identifier for the resource.",
    )
};
const META_SUBS: &[AttrDef] = &[
    AttrDef {
        case_exact: true,
        mutability: Mutability::ReadOnly,
        ..string("resourceType", "The resource type.")
    },
    AttrDef {
        kind: AttrType::DateTime,
        mutability: Mutability::ReadOnly,
        ..string("created", "When the resource was created.")
    },
    AttrDef {
        kind: AttrType::DateTime,
        mutability: Mutability::ReadOnly,
        ..string("lastModified", "When the resource was last changed.")
    },
    AttrDef {
        kind: AttrType::Reference,
        case_exact: true,
        mutability: Mutability::ReadOnly,
        ..string("location", "The URI of the resource.")
    },
    AttrDef {
        case_exact: true,
        mutability: Mutability::ReadOnly,
        ..string("version", "The version of the resource.")
    },
];
pub const META_ATTRIBUTE: AttrDef = AttrDef {
    mutability: Mutability::ReadOnly,
    ..complex("meta", "Resource metadata.", META_SUBS)
};

pub struct SchemaDef {
    pub id: &'static str,
    pub name: &'static str,
    pub description: &'static str,
    pub attributes: &'static [AttrDef],
}

pub const USER_SCHEMA: SchemaDef = SchemaDef {
    id: USER_URN,
    name: "User",
    description: "A person who may use lockers.",
    attributes: USER_ATTRIBUTES,
};
pub const ENTERPRISE_USER_SCHEMA: SchemaDef = SchemaDef {
    id: ENTERPRISE_USER_URN,
    name: "EnterpriseUser",
    description: "Enterprise attributes of a user; department and manager feed locker policies.",
    attributes: ENTERPRISE_USER_ATTRIBUTES,
};
pub const GROUP_SCHEMA: SchemaDef = SchemaDef {
    id: GROUP_URN,
    name: "Group",
    description: "A group of users; locker access policies name groups.",
    attributes: GROUP_ATTRIBUTES,
};

pub const ALL_SCHEMAS: &[&SchemaDef] = &[&USER_SCHEMA, &ENTERPRISE_USER_SCHEMA, &GROUP_SCHEMA];

/// The two resource types Lockgate serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResourceKind {
    User,
    Group,
}

impl ResourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceKind::User => "User",
            ResourceKind::Group => "Group",
        }
    }

    pub fn endpoint(self) -> &'static str {
        match self {
            ResourceKind::User => "Users",
            ResourceKind::Group => "Groups",
        }
    }

    pub fn core_schema(self) -> &'static SchemaDef {
        match self {
            ResourceKind::User => &USER_SCHEMA,
            ResourceKind::Group => &GROUP_SCHEMA,
        }
    }

    /// Finds a core-schema or common attribute by name, ignoring case.
    pub fn core_attribute(self, name: &str) -> Option<&'static AttrDef> {
        [&ID_ATTRIBUTE, &EXTERNAL_ID_ATTRIBUTE, &META_ATTRIBUTE]
            .into_iter()
            .chain(self.core_schema().attributes.iter())
            .find(|a| a.name.eq_ignore_ascii_case(name))
    }
}

/// Which schema an attribute belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SchemaRef {
    Core,
    Enterprise,
    /// A custom User extension, keyed by its URN as first received.
    Custom(String),
}

impl SchemaRef {
    /// Resolves an attribute-path URN prefix. `None` means the core schema.
    pub fn from_urn(kind: ResourceKind, urn: Option<&str>) -> Result<SchemaRef, String> {
        let Some(urn) = urn else {
            return Ok(SchemaRef::Core);
        };
        if urn.eq_ignore_ascii_case(kind.core_schema().id) {
            return Ok(SchemaRef::Core);
        }
        if kind == ResourceKind::User {
            if urn.eq_ignore_ascii_case(ENTERPRISE_USER_URN) {
                return Ok(SchemaRef::Enterprise);
            }
            if is_custom_user_extension(urn) {
                return Ok(SchemaRef::Custom(urn.to_string()));
            }
        }
        Err(format!(
            "schema URN \"{urn}\" is not supported for {}; use {} or a \
             urn:ietf:params:scim:schemas:extension:<name>:2.0:User extension",
            kind.endpoint(),
            kind.core_schema().id
        ))
    }

    pub fn urn(&self, kind: ResourceKind) -> &str {
        match self {
            SchemaRef::Core => kind.core_schema().id,
            SchemaRef::Enterprise => ENTERPRISE_USER_URN,
            SchemaRef::Custom(urn) => urn,
        }
    }
}

/// True for `urn:ietf:params:scim:schemas:extension:<name>:2.0:User`, the only
/// shape Entra uses for directory-extension and custom attributes.
pub fn is_custom_user_extension(urn: &str) -> bool {
    let lower = urn.to_ascii_lowercase();
    let Some(rest) = lower.strip_prefix(EXTENSION_PREFIX) else {
        return false;
    };
    let Some(name) = rest.strip_suffix(":2.0:user") else {
        return false;
    };
    !name.is_empty()
        && name != "enterprise"
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
}

/// The definition custom extension attributes share: Entra sends them
/// single-valued and non-reference.
pub const CUSTOM_ATTRIBUTE: AttrDef = string(
    "custom",
    "A custom extension attribute: a single string, boolean or number.",
);

/// Splits a full attribute URN such as
/// `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department`
/// into the schema URN and the attribute path after it.
pub fn split_attribute_urn(kind: ResourceKind, key: &str) -> Option<(SchemaRef, String)> {
    let lower = key.to_ascii_lowercase();
    let candidates: Vec<&str> = match kind {
        ResourceKind::User => vec![USER_URN, ENTERPRISE_USER_URN],
        ResourceKind::Group => vec![GROUP_URN],
    };
    for urn in candidates {
        let prefix = format!("{}:", urn.to_ascii_lowercase());
        if let Some(rest) = lower.strip_prefix(&prefix) {
            let attr = key[key.len() - rest.len()..].to_string();
            let schema = SchemaRef::from_urn(kind, Some(urn)).ok()?;
            return Some((schema, attr));
        }
    }
    if kind == ResourceKind::User && lower.starts_with(EXTENSION_PREFIX) {
        let marker = ":2.0:user:";
        let at = lower.find(marker)?;
        let urn = &key[..at + marker.len() - 1];
        let attr = &key[at + marker.len()..];
        if is_custom_user_extension(urn) && !attr.is_empty() {
            return Some((SchemaRef::Custom(urn.to_string()), attr.to_string()));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn custom_extension_urns_are_recognised() {
        assert!(is_custom_user_extension(
            "urn:ietf:params:scim:schemas:extension:lockgate:2.0:User"
        ));
        assert!(is_custom_user_extension(
            "urn:ietf:params:scim:schemas:extension:CustomExt:2.0:User"
        ));
        assert!(!is_custom_user_extension(ENTERPRISE_USER_URN));
        assert!(!is_custom_user_extension(
            "urn:ietf:params:scim:schemas:extension::2.0:User"
        ));
        assert!(!is_custom_user_extension("urn:example:other"));
    }

    #[test]
    fn attribute_urns_split_into_schema_and_name() {
        let (schema, attr) = split_attribute_urn(
            ResourceKind::User,
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
        )
        .unwrap();
        assert_eq!(schema, SchemaRef::Enterprise);
        assert_eq!(attr, "manager");

        let (schema, attr) = split_attribute_urn(
            ResourceKind::User,
            "urn:ietf:params:scim:schemas:extension:lockgate:2.0:User:badgeNumber",
        )
        .unwrap();
        assert_eq!(
            schema,
            SchemaRef::Custom("urn:ietf:params:scim:schemas:extension:lockgate:2.0:User".into())
        );
        assert_eq!(attr, "badgeNumber");

        let (schema, attr) = split_attribute_urn(
            ResourceKind::User,
            "urn:ietf:params:scim:schemas:core:2.0:User:name.givenName",
        )
        .unwrap();
        assert_eq!(schema, SchemaRef::Core);
        assert_eq!(attr, "name.givenName");
    }

    #[test]
    fn core_attribute_lookup_ignores_case() {
        assert_eq!(
            ResourceKind::User.core_attribute("USERNAME").unwrap().name,
            "userName"
        );
        assert_eq!(
            ResourceKind::Group
                .core_attribute("externalid")
                .unwrap()
                .name,
            "externalId"
        );
        assert!(ResourceKind::Group.core_attribute("userName").is_none());
    }
}
