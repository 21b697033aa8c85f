//! Query parameters of SCIM reads (RFC 7644 §3.4.2): filter, sorting,
//! paging and attribute projection. Parameter names are matched ignoring
//! case and unknown ones (such as Entra's `aadOptscim062020` flag, if it is
//! forwarded) are ignored.

use lockgate_scim::ScimError;
use lockgate_scim::contract::MAX_PAGE_SIZE;
use lockgate_scim::filter::{parse_filter, resolve_attr};
use lockgate_scim::render::Projection;
use lockgate_scim::schema::ResourceKind;
use lockgate_store::{ListQuery, SortOrder};

/// The raw query string, form-decoded (`+` is a space, as Entra encodes it).
pub(crate) struct Params(Vec<(String, String)>);

impl Params {
    pub fn parse(query: Option<&str>) -> Params {
        Params(
            url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Returns the first parameter whose name is not one of `known`,
    /// compared ignoring case as [`Params::get`] does.
    pub fn unknown(&self, known: &[&str]) -> Option<&str> {
        self.0
            .iter()
            .map(|(k, _)| k.as_str())
            .find(|k| !known.iter().any(|name| k.eq_ignore_ascii_case(name)))
    }

    pub fn projection(&self, kind: ResourceKind) -> Result<Projection, ScimError> {
        Projection::parse(kind, self.get("attributes"), self.get("excludedAttributes"))
    }

    pub fn list_query(&self, kind: ResourceKind) -> Result<ListQuery, ScimError> {
        let filter = match self.get("filter") {
            Some(text) if !text.trim().is_empty() => Some(parse_filter(kind, text)?),
            _ => None,
        };
        let sort_by = match self.get("sortBy") {
            Some(text) if !text.trim().is_empty() => Some(parse_sort_by(kind, text.trim())?),
            _ => None,
        };
        let sort_order = match self.get("sortOrder") {
            None => SortOrder::Ascending,
            Some(s) if s.eq_ignore_ascii_case("ascending") => SortOrder::Ascending,
            Some(s) if s.eq_ignore_ascii_case("descending") => SortOrder::Descending,
            Some(other) => {
                return Err(ScimError::invalid_value(format!(
                    "sortOrder {other:?} is not valid; use ascending or descending"
                )));
            }
        };
        // RFC 7644 §3.4.2.4: a startIndex below 1 is read as 1, a negative
        // count as 0; a count above the advertised maximum is capped.
        let start_index = integer(self.get("startIndex"), "startIndex")?
            .unwrap_or(1)
            .max(1) as u64;
        let count = integer(self.get("count"), "count")?
            .unwrap_or(100)
            .clamp(0, MAX_PAGE_SIZE as i64) as u64;
        Ok(ListQuery {
            filter,
            sort_by,
            sort_order,
            start_index,
            count,
        })
    }
}

fn integer(value: Option<&str>, name: &str) -> Result<Option<i64>, ScimError> {
    value
        .map(|v| {
            v.trim().parse::<i64>().map_err(|_| {
                ScimError::invalid_value(format!(
                    "{name} {v:?} is not an integer; use a number such as 1"
                ))
            })
        })
        .transpose()
}

fn parse_sort_by(
    kind: ResourceKind,
    text: &str,
) -> Result<lockgate_scim::filter::AttrRef, ScimError> {
    let (urn, path) = match lockgate_scim::schema::split_attribute_urn(kind, text) {
        Some((schema, path)) => (Some(schema.urn(kind).to_string()), path),
        None => (None, text.to_string()),
    };
    let (name, sub) = match path.split_once('.') {
        Some((name, sub)) => (name.to_string(), Some(sub.to_string())),
        None => (path, None),
    };
    resolve_attr(kind, urn.as_deref(), &name, sub.as_deref())
        .map_err(|e| ScimError::invalid_value(format!("sortBy: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plus_decodes_to_space_in_filters() {
        let params = Params::parse(Some(
            "filter=displayName+eq+%22Bank+B+Night+Shift%22&excludedAttributes=members",
        ));
        assert_eq!(
            params.get("filter"),
            Some("displayName eq \"Bank B Night Shift\"")
        );
        assert_eq!(params.get("EXCLUDEDATTRIBUTES"), Some("members"));
    }

    #[test]
    fn paging_is_clamped_per_rfc() {
        let q = Params::parse(Some("startIndex=0&count=-5"))
            .list_query(ResourceKind::User)
            .unwrap();
        assert_eq!((q.start_index, q.count), (1, 0));
        let q = Params::parse(Some("count=100000"))
            .list_query(ResourceKind::User)
            .unwrap();
        assert_eq!(q.count, MAX_PAGE_SIZE as u64);
        let err = Params::parse(Some("startIndex=abc"))
            .list_query(ResourceKind::User)
            .unwrap_err();
        assert_eq!(err.status, 400);
    }

    #[test]
    fn sort_by_resolves_urn_qualified_names() {
        let q = Params::parse(Some(
            "sortBy=urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department&sortOrder=descending",
        ))
        .list_query(ResourceKind::User)
        .unwrap();
        assert_eq!(q.sort_by.unwrap().name, "department");
        assert_eq!(q.sort_order, SortOrder::Descending);
    }
}
