//! Normalisation of POST and PUT bodies into the stored document.
//!
//! The stored document is a JSON object holding:
//! - `schemas`: the core URN first, then the URN of each extension present;
//! - every writable core attribute under its schema spelling (`userName`,
//!   `name`, `emails`, ...), never `id`, `meta`, `groups` or `members`;
//! - `externalId` when sent;
//! - each extension's attributes as an object under its URN
//!   (`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User`, custom URNs
//!   as first received), with `manager` always `{"value": "<id>"}`.
//! Group members are stored as rows apart from the document.

use serde_json::Value;

/// A member reference from a Group body or PATCH value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRef {
    /// The member's Lockgate id.
    pub value: String,
    /// `User` or `Group` when the client said which.
    pub kind: Option<String>,
}

/// A normalised resource body.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    pub value: Value,
    /// Group members from the body; `None` when the body has no `members`.
    pub members: Option<Vec<MemberRef>>,
}
