//! PATCH (RFC 7644 §3.5.2) in both of Entra's dialects.
//!
//! Without the `aadOptscim062020` tenant-URL flag Entra capitalises `op`,
//! sends booleans as the strings "True"/"False" and removes a group member
//! with `{"op":"Remove","path":"members","value":[{"value":"<id>"}]}`. With the
//! flag it sends RFC-style ops, `members[value eq "<id>"]` filters and
//! pathless `replace` ops whose value object has dotted and URN-qualified
//! keys. The flag does not apply to provisioning on demand, so one tenant
//! sends both dialects and both are accepted everywhere. Source: Microsoft
//! Learn, "Known issues and resolutions with SCIM 2.0 protocol compliance of
//! the Microsoft Entra user provisioning service" (page dated 2025-04-15).
//!
//! [`parse_operations`] resolves every path against the schema, and
//! [`apply`] applies the operations to a stored document without I/O.

mod apply;
mod members;
mod multi;
mod parse;
#[cfg(test)]
mod tests;

pub use apply::{apply, member_only_changes};
pub use parse::parse_operations;

use serde_json::Value;

use crate::filter::{self, AttrRef, Filter};
use crate::resource::MemberRef;
use crate::schema::{ResourceKind, SchemaRef};

/// The `op` of a PATCH operation, matched case-insensitively.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchOp {
    Add,
    Replace,
    Remove,
}

impl PatchOp {
    pub fn as_str(self) -> &'static str {
        match self {
            PatchOp::Add => "add",
            PatchOp::Replace => "replace",
            PatchOp::Remove => "remove",
        }
    }
}

/// A PATCH path resolved against the schema, with names in their schema
/// spelling.
///
/// `emails[type eq "work"].value` resolves to `attr` = emails with
/// `sub` = value and `filter` = `type eq "work"`. `name.givenName` has no
/// filter. For a filtered path the filter's references are sub-attributes of
/// `attr`'s top-level attribute.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchPathRef {
    pub attr: AttrRef,
    pub filter: Option<Filter>,
}

impl PatchPathRef {
    /// Parses and resolves a PATCH path such as `name.givenName`,
    /// `emails[type eq "work"].value` or
    /// `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager`.
    /// Errors are 400 `invalidPath` and name the path or the attribute.
    pub fn parse(kind: ResourceKind, text: &str) -> Result<Self, crate::ScimError> {
        parse::parse_path(kind, text)
    }

    /// Writes the path as SCIM path text, URN-qualified outside the core
    /// schema. Parsing the text again gives an equal path.
    pub fn path_text(&self, kind: ResourceKind) -> String {
        let Some(filter) = &self.filter else {
            return self.attr.path(kind);
        };
        let parent = AttrRef {
            sub: None,
            ..self.attr.clone()
        };
        let inner = filter::Display {
            filter,
            kind,
            in_element: true,
        };
        let mut text = format!("{}[{inner}]", parent.path(kind));
        if let Some(sub) = &self.attr.sub {
            text.push('.');
            text.push_str(sub);
        }
        text
    }

    /// Returns true when the path addresses a Group's `members`, which are
    /// stored as rows apart from the document.
    fn is_members(&self, kind: ResourceKind) -> bool {
        kind == ResourceKind::Group
            && self.attr.schema == SchemaRef::Core
            && self.attr.name == "members"
    }
}

/// One PATCH operation after parsing.
///
/// A pathless `add` or `replace` is expanded into one operation per key of
/// its value object, so every operation has a path.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchOperation {
    pub op: PatchOp,
    pub path: PatchPathRef,
    /// `None` only for a `remove` sent without `value`.
    pub value: Option<Value>,
}

/// The result of applying a PATCH request.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchOutcome {
    /// The new stored document, already checked with [`crate::resource::validate`].
    pub document: Value,
    /// Group membership changes in request order; empty when no operation
    /// names `members`.
    pub member_changes: Vec<MemberChange>,
}

/// A change to a group's member rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberChange {
    /// Adds these members; adding an existing member is not an error
    /// (RFC 7644 §3.5.2.1).
    Add(Vec<MemberRef>),
    /// Removes the members with these ids; an id that is not a member is
    /// not an error.
    Remove(Vec<String>),
    /// Removes every member: a `remove` of `members` with no value.
    RemoveAll,
    /// Makes these the only members: a `replace` of `members`.
    Replace(Vec<MemberRef>),
}
