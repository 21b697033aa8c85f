//! The filter algebra: a SCIM filter (RFC 7644 §3.4.2.2) after its attribute
//! names have been resolved against the schema.
//!
//! `scim_v2` parses the text; [`parse`] resolves what it parsed into this
//! small tree, which the store compiles to SQL and PATCH evaluates against
//! the elements of multi-valued attributes.

mod eval;
mod parse;

use std::fmt;

pub use eval::element_matches;
pub use parse::{parse_element_filter, parse_filter, resolve_attr};

use crate::schema::{AttrType, ResourceKind, SchemaRef};

/// A resolved attribute reference, with names in their schema spelling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttrRef {
    pub schema: SchemaRef,
    pub name: String,
    pub sub: Option<String>,
    /// Type of the addressed value: the sub-attribute's when `sub` is set.
    pub kind: AttrType,
    /// Whether string comparisons are case-sensitive (RFC 7643 §2.2).
    pub case_exact: bool,
    /// Whether the top-level attribute is multi-valued.
    pub multi_valued: bool,
}

impl AttrRef {
    /// Writes the path as a SCIM client does, URN-qualified outside the core schema.
    pub fn path(&self, kind: ResourceKind) -> String {
        let mut path = match &self.schema {
            SchemaRef::Core => self.name.clone(),
            other => format!("{}:{}", other.urn(kind), self.name),
        };
        if let Some(sub) = &self.sub {
            path.push('.');
            path.push_str(sub);
        }
        path
    }

    /// Returns the lower-case key the store indexes this attribute's values under.
    pub fn index_key(&self) -> String {
        index_key(&self.schema, &self.name, self.sub.as_deref())
    }
}

/// Builds the lower-case index key for an attribute, shared by the writer of the
/// value index and the filter compiler so both always agree.
pub fn index_key(schema: &SchemaRef, name: &str, sub: Option<&str>) -> String {
    let mut key = match schema {
        SchemaRef::Core => String::new(),
        SchemaRef::Enterprise => "enterprise:".to_string(),
        SchemaRef::Custom(urn) => format!("{}:", urn.to_ascii_lowercase()),
    };
    key.push_str(&name.to_ascii_lowercase());
    if let Some(sub) = sub {
        key.push('.');
        key.push_str(&sub.to_ascii_lowercase());
    }
    key
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

impl CompareOp {
    pub fn as_str(self) -> &'static str {
        match self {
            CompareOp::Eq => "eq",
            CompareOp::Ne => "ne",
            CompareOp::Co => "co",
            CompareOp::Sw => "sw",
            CompareOp::Ew => "ew",
            CompareOp::Gt => "gt",
            CompareOp::Ge => "ge",
            CompareOp::Lt => "lt",
            CompareOp::Le => "le",
        }
    }
}

/// A comparison value, already checked against the attribute's type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Literal {
    Str(String),
    Bool(bool),
    /// A JSON number, kept as its text.
    Number(String),
    Null,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    And(Vec<Filter>),
    Or(Vec<Filter>),
    Not(Box<Filter>),
    Present(AttrRef),
    Compare(AttrRef, CompareOp, Literal),
    /// `attr[filter]`: some element of the multi-valued `attr` matches
    /// `filter`, whose references are sub-attributes of `attr`.
    Element(AttrRef, Box<Filter>),
}

/// Writes the filter back as SCIM filter text; parsing that text again gives
/// the same tree, which the property tests check.
pub struct Display<'a> {
    pub filter: &'a Filter,
    pub kind: ResourceKind,
    /// Inside `attr[...]`, references print without their parent name.
    pub in_element: bool,
}

impl fmt::Display for Display<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let nested = |filter| Display {
            filter,
            kind: self.kind,
            in_element: self.in_element,
        };
        match self.filter {
            Filter::And(items) | Filter::Or(items) => {
                let word = if matches!(self.filter, Filter::And(_)) {
                    " and "
                } else {
                    " or "
                };
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(word)?;
                    }
                    if matches!(item, Filter::And(_) | Filter::Or(_)) {
                        write!(f, "({})", nested(item))?;
                    } else {
                        write!(f, "{}", nested(item))?;
                    }
                }
                Ok(())
            }
            Filter::Not(inner) => write!(f, "not ({})", nested(inner)),
            Filter::Present(attr) => write!(f, "{} pr", self.attr_text(attr)),
            Filter::Compare(attr, op, value) => {
                write!(f, "{} {} ", self.attr_text(attr), op.as_str())?;
                match value {
                    Literal::Str(s) => {
                        f.write_str(&serde_json::Value::String(s.clone()).to_string())
                    }
                    Literal::Bool(b) => write!(f, "{b}"),
                    Literal::Number(n) => f.write_str(n),
                    Literal::Null => f.write_str("null"),
                }
            }
            Filter::Element(attr, inner) => {
                let inner = Display {
                    filter: inner,
                    kind: self.kind,
                    in_element: true,
                };
                write!(f, "{}[{}]", attr.path(self.kind), inner)
            }
        }
    }
}

impl Display<'_> {
    fn attr_text(&self, attr: &AttrRef) -> String {
        match (&attr.sub, self.in_element) {
            (Some(sub), true) => sub.clone(),
            _ => attr.path(self.kind),
        }
    }
}

impl Filter {
    pub fn display(&self, kind: ResourceKind) -> Display<'_> {
        Display {
            filter: self,
            kind,
            in_element: false,
        }
    }
}
