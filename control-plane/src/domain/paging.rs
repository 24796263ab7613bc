//! Pages of lists: `?limit=&offset=` in, `{items, total, limit, offset}` out.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Which page of a list.
#[derive(Debug, Default, Clone, Copy, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct Page {
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

impl Page {
    pub const DEFAULT_LIMIT: i64 = 100;
    pub const MAX_LIMIT: i64 = 1000;

    /// `(limit, offset)`, checked.
    pub fn resolve(&self) -> Result<(i64, i64)> {
        let limit = self.limit.unwrap_or(Self::DEFAULT_LIMIT);
        let offset = self.offset.unwrap_or(0);
        if !(1..=Self::MAX_LIMIT).contains(&limit) {
            return Err(Error::invalid("limit", format!("must be between 1 and {}", Self::MAX_LIMIT)));
        }
        if offset < 0 {
            return Err(Error::invalid("offset", "must not be negative"));
        }
        Ok((limit, offset))
    }
}

/// A page of a list (its OpenAPI schema is in `crate::http::doc`: one named schema per item type).
#[derive(Debug, Serialize)]
pub struct List<T> {
    pub items: Vec<T>,
    pub total: i64,
    pub limit: i64,
    pub offset: i64,
}

impl<T> List<T> {
    /// The page `(limit, offset)` of a list of `total` items.
    pub fn of((items, total): (Vec<T>, i64), (limit, offset): (i64, i64)) -> Self {
        List { items, total, limit, offset }
    }

    /// The same items, each made into something else.
    pub fn try_map<U>(self, f: impl FnMut(T) -> Result<U>) -> Result<List<U>> {
        let items = self.items.into_iter().map(f).collect::<Result<Vec<U>>>()?;
        Ok(List { items, total: self.total, limit: self.limit, offset: self.offset })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_are_checked() {
        assert_eq!(Page::default().resolve().ok(), Some((Page::DEFAULT_LIMIT, 0)));
        assert_eq!(Page { limit: Some(1000), offset: Some(5) }.resolve().ok(), Some((1000, 5)));
        for bad in [Page { limit: Some(0), offset: None }, Page { limit: Some(1001), offset: None }] {
            assert!(matches!(bad.resolve(), Err(Error::Unprocessable(p)) if p[0].path == "limit"));
        }
        let negative = Page { limit: None, offset: Some(-1) };
        assert!(matches!(negative.resolve(), Err(Error::Unprocessable(p)) if p[0].path == "offset"));
    }

    #[test]
    fn lists_keep_their_page_when_mapped() {
        let list = List::of((vec![1, 2], 7), (2, 4));
        let mapped = list.try_map(|n| Ok(n * 10)).ok();
        assert!(mapped.is_some_and(|m| m.items == [10, 20] && (m.total, m.limit, m.offset) == (7, 2, 4)));
        let failed = List::of((vec![1], 1), (1, 0)).try_map(|_| Err::<u8, _>(Error::Unavailable));
        assert!(failed.is_err());
    }
}
