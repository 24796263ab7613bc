//! A router that records what it routes, so `GET /api/v1/openapi.json` is generated from the
//! same calls that register the handlers and cannot miss one.

use super::state::AppState;

/// One documented operation of the HTTP API.
#[derive(Debug, Clone)]
pub struct Operation {
    pub method: &'static str,
    pub path: String,
    pub summary: &'static str,
    pub tag: &'static str,
}

/// A router that records what it routes, so `GET /api/v1/openapi.json` is generated from the
/// same calls that register the handlers and cannot miss one.
#[derive(Debug)]
pub struct Routes {
    router: axum::Router<AppState>,
    tag: &'static str,
    pub operations: Vec<Operation>,
}

macro_rules! verb {
    ($name:ident, $filter:ident, $method:literal) => {
        pub fn $name<H, T>(self, path: &str, summary: &'static str, handler: H) -> Self
        where
            H: axum::handler::Handler<T, AppState>,
            T: 'static,
        {
            self.on(axum::routing::MethodFilter::$filter, $method, path, summary, handler)
        }
    };
}

impl Routes {
    pub fn new(tag: &'static str) -> Self {
        Routes { router: axum::Router::new(), tag, operations: Vec::new() }
    }

    fn on<H, T>(
        mut self,
        filter: axum::routing::MethodFilter,
        method: &'static str,
        path: &str,
        summary: &'static str,
        handler: H,
    ) -> Self
    where
        H: axum::handler::Handler<T, AppState>,
        T: 'static,
    {
        self.router = self.router.route(path, axum::routing::on(filter, handler));
        self.operations.push(Operation { method, path: path.to_owned(), summary, tag: self.tag });
        self
    }

    verb!(get, GET, "get");
    verb!(post, POST, "post");
    verb!(put, PUT, "put");
    verb!(patch, PATCH, "patch");
    verb!(delete, DELETE, "delete");

    pub fn merge(mut self, other: Routes) -> Self {
        self.router = self.router.merge(other.router);
        self.operations.extend(other.operations);
        self
    }

    pub fn into_parts(self) -> (axum::Router<AppState>, Vec<Operation>) {
        (self.router, self.operations)
    }
}
