//! The one place SCIM filters become SQL.
//!
//! A resolved [`Filter`] compiles to a boolean SQL expression over the
//! resource row `r`. Attributes with columns compare against the column;
//! group membership compares against `scim_group_members`; every other
//! attribute compares through `EXISTS` over the `scim_values` index. Each
//! comparison is guarded so it is never NULL, which keeps `not` two-valued.
//! Values are always bound as parameters, never spliced into the text.

use lockgate_domain::timestamp;
use lockgate_scim::ScimError;
use lockgate_scim::filter::{AttrRef, CompareOp, Filter, Literal};
use lockgate_scim::schema::{AttrType, ResourceKind, SchemaRef};

use crate::Backend;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Bind {
    Text(String),
    Int(i64),
    Null,
}

/// Collects bind values; `$1` is always the tenant id.
pub(crate) struct SqlBuilder {
    pub binds: Vec<Bind>,
    backend: Backend,
    aliases: usize,
}

impl SqlBuilder {
    pub fn new(backend: Backend, tenant_id: &str) -> Self {
        Self {
            binds: vec![Bind::Text(tenant_id.to_string())],
            backend,
            aliases: 0,
        }
    }

    pub fn param(&mut self, bind: Bind) -> String {
        self.binds.push(bind);
        format!("${}", self.binds.len())
    }

    fn text(&mut self, value: impl Into<String>) -> String {
        self.param(Bind::Text(value.into()))
    }

    fn alias(&mut self, prefix: &str) -> String {
        self.aliases += 1;
        format!("{prefix}{}", self.aliases)
    }
}

/// The context a leaf comparison runs in.
#[derive(Clone)]
enum Scope {
    /// Top level: the resource row `r`.
    Resource,
    /// Inside `attr[...]` over `scim_values`: rows of the element `alias.elem`.
    Element(String),
    /// Inside `members[...]` or `groups[...]`: the membership row `alias`.
    Membership(String, Membership),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Membership {
    /// A group's `members`: the row's member is the value.
    Members,
    /// A user's `groups`: the row's group is the value.
    Groups,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum ValueKind {
    Text,
    Bool,
    Time,
}

/// A compiled attribute: where its value sits.
struct Leaf {
    /// The open subquery (`EXISTS (...` or `r.id IN (...`) that reaches the
    /// value when it is not on the row; the test and `)` complete it.
    subquery: Option<String>,
    exact: String,
    folded: String,
    kind: ValueKind,
}

/// Compiles `filter` for resources of `kind` into a SQL boolean expression.
pub(crate) fn compile(
    b: &mut SqlBuilder,
    kind: ResourceKind,
    filter: &Filter,
) -> Result<String, ScimError> {
    compile_in(b, kind, filter, &Scope::Resource)
}

fn compile_in(
    b: &mut SqlBuilder,
    kind: ResourceKind,
    filter: &Filter,
    scope: &Scope,
) -> Result<String, ScimError> {
    Ok(match filter {
        Filter::And(items) | Filter::Or(items) => {
            let joiner = if matches!(filter, Filter::And(_)) {
                " AND "
            } else {
                " OR "
            };
            let parts = items
                .iter()
                .map(|f| compile_in(b, kind, f, scope))
                .collect::<Result<Vec<_>, _>>()?;
            format!("({})", parts.join(joiner))
        }
        Filter::Not(inner) => format!("(NOT {})", compile_in(b, kind, inner, scope)?),
        Filter::Present(attr) => present(b, kind, attr, scope)?,
        Filter::Compare(attr, CompareOp::Ne, literal) => {
            let eq = Filter::Compare(attr.clone(), CompareOp::Eq, literal.clone());
            format!("(NOT {})", compile_in(b, kind, &eq, scope)?)
        }
        Filter::Compare(attr, op, Literal::Null) => {
            let present = present(b, kind, attr, scope)?;
            if *op == CompareOp::Eq {
                format!("(NOT {present})")
            } else {
                present
            }
        }
        Filter::Compare(attr, op, literal) => compare(b, kind, attr, *op, literal, scope)?,
        Filter::Element(parent, inner) => element(b, kind, parent, inner, scope)?,
    })
}

fn element(
    b: &mut SqlBuilder,
    kind: ResourceKind,
    parent: &AttrRef,
    inner: &Filter,
    scope: &Scope,
) -> Result<String, ScimError> {
    if !matches!(scope, Scope::Resource) {
        return Err(ScimError::invalid_filter("value paths cannot be nested"));
    }
    if let Some(membership) = membership_of(kind, parent) {
        let alias = b.alias("m");
        let prefix = membership_prefix(&alias, membership);
        let inner = compile_in(b, kind, inner, &Scope::Membership(alias, membership))?;
        return Ok(format!("EXISTS ({prefix} AND {inner})"));
    }
    if parent.schema == SchemaRef::Core && parent.name == "meta" {
        return compile_in(b, kind, inner, &Scope::Resource);
    }
    let alias = b.alias("e");
    let root = b.text(parent.index_key());
    let inner = compile_in(b, kind, inner, &Scope::Element(alias.clone()))?;
    Ok(format!(
        "EXISTS (SELECT 1 FROM scim_values {alias} WHERE {alias}.tenant_id = $1 \
         AND {alias}.resource_id = r.id AND {alias}.root = {root} AND {inner})"
    ))
}

fn membership_of(kind: ResourceKind, attr: &AttrRef) -> Option<Membership> {
    match (kind, attr.schema == SchemaRef::Core, attr.name.as_str()) {
        (ResourceKind::Group, true, "members") => Some(Membership::Members),
        (ResourceKind::User, true, "groups") => Some(Membership::Groups),
        _ => None,
    }
}

fn membership_prefix(alias: &str, membership: Membership) -> String {
    let own = match membership {
        Membership::Members => "group_id",
        Membership::Groups => "member_id",
    };
    format!(
        "SELECT 1 FROM scim_group_members {alias} WHERE {alias}.tenant_id = $1 AND {alias}.{own} = r.id"
    )
}

fn present(
    b: &mut SqlBuilder,
    kind: ResourceKind,
    attr: &AttrRef,
    scope: &Scope,
) -> Result<String, ScimError> {
    if matches!(scope, Scope::Resource) && attr.sub.is_none() {
        if let Some(membership) = membership_of(kind, attr) {
            let alias = b.alias("m");
            return Ok(format!(
                "EXISTS ({})",
                membership_prefix(&alias, membership)
            ));
        }
        if attr.kind == AttrType::Complex {
            if attr.name == "meta" {
                return Ok("(1 = 1)".into());
            }
            let alias = b.alias("v");
            let root = b.text(attr.index_key());
            return Ok(format!(
                "EXISTS (SELECT 1 FROM scim_values {alias} WHERE {alias}.tenant_id = $1 \
                 AND {alias}.resource_id = r.id AND {alias}.root = {root})"
            ));
        }
    }
    let leaf = leaf(b, kind, attr, scope)?;
    let test = match leaf.kind {
        ValueKind::Bool => format!("{} IS NOT NULL", leaf.exact),
        _ => format!("{e} IS NOT NULL AND {e} <> ''", e = leaf.exact),
    };
    Ok(wrap(&leaf, test))
}

fn compare(
    b: &mut SqlBuilder,
    kind: ResourceKind,
    attr: &AttrRef,
    op: CompareOp,
    literal: &Literal,
    scope: &Scope,
) -> Result<String, ScimError> {
    let leaf = leaf(b, kind, attr, scope)?;
    let path = attr.path(kind);
    let test = match (leaf.kind, literal) {
        (ValueKind::Bool, Literal::Bool(v)) => {
            let p = b.param(Bind::Int(i64::from(*v)));
            format!("{e} IS NOT NULL AND {e} = {p}", e = leaf.exact)
        }
        (ValueKind::Time, Literal::Str(s)) => {
            let normalized = timestamp::normalize(s).ok_or_else(|| {
                ScimError::invalid_filter(format!(
                    "\"{path}\" is a dateTime; {s:?} is not RFC 3339, write it like \"2026-01-31T08:00:00Z\""
                ))
            })?;
            text_test(b, &leaf.exact, op, normalized)
        }
        (ValueKind::Text, Literal::Bool(v)) => text_test(b, &leaf.folded, op, v.to_string()),
        (ValueKind::Text, Literal::Number(n)) => text_test(b, &leaf.exact, op, n.clone()),
        (ValueKind::Text, Literal::Str(s)) => {
            if attr.case_exact {
                text_test(b, &leaf.exact, op, s.clone())
            } else {
                text_test(b, &leaf.folded, op, s.to_lowercase())
            }
        }
        _ => {
            return Err(ScimError::invalid_filter(format!(
                "\"{path}\" cannot be compared with {}",
                op.as_str()
            )));
        }
    };
    Ok(wrap(&leaf, test))
}

fn wrap(leaf: &Leaf, test: String) -> String {
    match &leaf.subquery {
        Some(open) => format!("{open} AND {test})"),
        None => format!("({test})"),
    }
}

/// Builds a text comparison of `expr` with `value` that is never NULL.
fn text_test(b: &mut SqlBuilder, expr: &str, op: CompareOp, value: String) -> String {
    let guard = format!("{expr} IS NOT NULL AND ");
    let pg = b.backend == Backend::Postgres;
    let test = match op {
        CompareOp::Eq | CompareOp::Ne => format!("{expr} = {}", b.text(value)),
        CompareOp::Co if pg => format!("strpos({expr}, {}) > 0", b.text(value)),
        CompareOp::Co => format!("instr({expr}, {}) > 0", b.text(value)),
        // Lengths are bound as 64-bit integers; PostgreSQL's substr takes
        // int4 only, so they are cast.
        CompareOp::Sw => {
            let len = b.param(Bind::Int(value.chars().count() as i64));
            format!(
                "substr({expr}, 1, CAST({len} AS INTEGER)) = {}",
                b.text(value)
            )
        }
        CompareOp::Ew => {
            let n = value.chars().count() as i64;
            let len = b.param(Bind::Int(n));
            let start_offset = b.param(Bind::Int(n - 1));
            format!(
                "length({expr}) >= {len} AND substr({expr}, CAST(length({expr}) - {start_offset} AS INTEGER)) = {}",
                b.text(value)
            )
        }
        CompareOp::Gt | CompareOp::Ge | CompareOp::Lt | CompareOp::Le => {
            let symbol = match op {
                CompareOp::Gt => ">",
                CompareOp::Ge => ">=",
                CompareOp::Lt => "<",
                _ => "<=",
            };
            // PostgreSQL compares text by the database collation; "C" gives
            // the byte order SQLite uses, so both backends agree.
            let collate = if pg { " COLLATE \"C\"" } else { "" };
            format!("{expr}{collate} {symbol} {}", b.text(value))
        }
    };
    format!("{guard}{test}")
}

/// Locates the value of `attr` in `scope`.
fn leaf(
    b: &mut SqlBuilder,
    kind: ResourceKind,
    attr: &AttrRef,
    scope: &Scope,
) -> Result<Leaf, ScimError> {
    let path = attr.path(kind);
    match scope {
        Scope::Membership(alias, membership) => membership_leaf(alias, *membership, attr, &path),
        Scope::Element(alias) => Ok(value_leaf(b, attr, Some(alias))),
        Scope::Resource => {
            if let Some(membership) = membership_of(kind, attr) {
                let alias = b.alias("m");
                let mut leaf = membership_leaf(&alias, membership, attr, &path)?;
                leaf.subquery = Some(format!("EXISTS ({}", membership_prefix(&alias, membership)));
                return Ok(leaf);
            }
            if let Some(leaf) = column_leaf(kind, attr) {
                return Ok(leaf);
            }
            if attr.schema == SchemaRef::Core && attr.name == "meta" {
                return Err(ScimError::invalid_filter(format!(
                    "\"{path}\" is not filterable; meta.created and meta.lastModified are"
                )));
            }
            Ok(value_leaf(b, attr, None))
        }
    }
}

fn column_leaf(kind: ResourceKind, attr: &AttrRef) -> Option<Leaf> {
    if attr.schema != SchemaRef::Core {
        return None;
    }
    let text = |exact: &str, folded: &str| Leaf {
        subquery: None,
        exact: exact.into(),
        folded: folded.into(),
        kind: ValueKind::Text,
    };
    let time = |column: &str| Leaf {
        kind: ValueKind::Time,
        ..text(column, column)
    };
    match (kind, attr.name.as_str(), attr.sub.as_deref()) {
        (_, "id", None) => Some(text("r.id", "lower(r.id)")),
        (_, "externalId", None) => Some(text("r.external_id", "lower(r.external_id)")),
        (_, "displayName", None) => Some(text("r.display_name", "r.display_name_folded")),
        (ResourceKind::User, "userName", None) => Some(text("r.user_name", "r.user_name_folded")),
        (ResourceKind::User, "active", None) => Some(Leaf {
            kind: ValueKind::Bool,
            ..text("r.active", "r.active")
        }),
        (_, "meta", Some("created")) => Some(time("r.created_at")),
        (_, "meta", Some("lastModified")) => Some(time("r.modified_at")),
        _ => None,
    }
}

fn membership_leaf(
    alias: &str,
    membership: Membership,
    attr: &AttrRef,
    path: &str,
) -> Result<Leaf, ScimError> {
    let (exact, folded) = match (membership, attr.sub.as_deref()) {
        (Membership::Members, Some("value") | None) => (
            format!("{alias}.member_id"),
            format!("lower({alias}.member_id)"),
        ),
        (Membership::Members, Some("type")) => (
            format!("{alias}.member_kind"),
            format!("lower({alias}.member_kind)"),
        ),
        (Membership::Groups, Some("value") | None) => (
            format!("{alias}.group_id"),
            format!("lower({alias}.group_id)"),
        ),
        _ => {
            return Err(ScimError::invalid_filter(format!(
                "\"{path}\" is not filterable; filter on {}.value instead",
                attr.name
            )));
        }
    };
    Ok(Leaf {
        subquery: None,
        exact,
        folded,
        kind: ValueKind::Text,
    })
}

/// A value from the index. At the top level the comparison is an
/// uncorrelated `r.id IN (...)`, which both databases resolve from the
/// (tenant, attribute, value) index without visiting every resource; inside
/// a value path it is an `EXISTS` tied to the element being tested.
fn value_leaf(b: &mut SqlBuilder, attr: &AttrRef, element: Option<&str>) -> Leaf {
    let alias = b.alias("v");
    let key = b.text(attr.index_key());
    let open = match element {
        Some(e) => format!(
            "EXISTS (SELECT 1 FROM scim_values {alias} WHERE {alias}.tenant_id = $1 \
             AND {alias}.resource_id = r.id AND {alias}.attr = {key} AND {alias}.elem = {e}.elem"
        ),
        None => format!(
            "r.id IN (SELECT {alias}.resource_id FROM scim_values {alias} WHERE {alias}.tenant_id = $1 \
             AND {alias}.attr = {key}"
        ),
    };
    Leaf {
        subquery: Some(open),
        exact: format!("{alias}.value"),
        folded: format!("{alias}.value_folded"),
        kind: ValueKind::Text,
    }
}

/// Builds the `ORDER BY` expression for `sortBy` (RFC 7644 §3.4.2.3). String
/// attributes sort by their case-folded value unless they are caseExact.
pub(crate) fn sort_expression(
    b: &mut SqlBuilder,
    kind: ResourceKind,
    attr: &AttrRef,
) -> Result<String, ScimError> {
    if membership_of(kind, attr).is_some() || attr.kind == AttrType::Complex {
        return Err(ScimError::invalid_value(format!(
            "sortBy \"{}\" is not sortable; name a single value such as userName, \
             name.familyName or emails.value",
            attr.path(kind)
        )));
    }
    if let Some(leaf) = column_leaf(kind, attr) {
        return Ok(if attr.case_exact {
            leaf.exact
        } else {
            leaf.folded
        });
    }
    let key = b.text(attr.index_key());
    let column = if attr.case_exact {
        "value"
    } else {
        "value_folded"
    };
    Ok(format!(
        "(SELECT MIN(s.{column}) FROM scim_values s WHERE s.tenant_id = $1 \
         AND s.resource_id = r.id AND s.attr = {key})"
    ))
}
