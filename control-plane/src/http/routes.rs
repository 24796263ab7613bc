//! A router that records what it routes, so `GET /api/v1/openapi.json` is generated from the
//! same calls that register the handlers and cannot miss one.

use axum::handler::Handler;

use super::doc::{Described, Shape};
use super::state::AppState;

/// One documented operation of the HTTP API.
#[derive(Debug, Clone)]
pub struct Operation {
    pub method: &'static str,
    pub path: String,
    pub summary: &'static str,
    pub tag: &'static str,
    /// What it takes and gives, read from its handler's types.
    pub shape: Shape,
}

/// A router that records what it routes, so `GET /api/v1/openapi.json` is generated from the
/// same calls that register the handlers and cannot miss one.
#[derive(Debug)]
pub struct Routes {
    router: axum::Router<AppState>,
    tag: &'static str,
    pub operations: Vec<Operation>,
}

/// The five handlers of a resource (see [`Routes::resource`]).
#[derive(Debug)]
pub struct Resource<L, C, R, U, D> {
    pub list: L,
    pub create: C,
    pub read: R,
    pub update: Update<U>,
    pub delete: D,
}

/// How a resource is updated: `PUT` and `PATCH` alike (Vane's routes), or `PUT` only (the
/// original service's).
#[derive(Debug)]
pub enum Update<U> {
    PutAndPatch(U),
    Put(U),
}

macro_rules! verb {
    ($name:ident, $filter:ident, $method:literal) => {
        pub fn $name<H, T, D>(self, path: &str, summary: &'static str, handler: H) -> Self
        where
            H: Handler<T, AppState> + Described<D>,
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

    fn on<H, T, D>(
        mut self,
        filter: axum::routing::MethodFilter,
        method: &'static str,
        path: &str,
        summary: &'static str,
        handler: H,
    ) -> Self
    where
        H: Handler<T, AppState> + Described<D>,
        T: 'static,
    {
        self.router = self.router.route(path, axum::routing::on(filter, handler));
        let shape = H::shape();
        self.operations.push(Operation { method, path: path.to_owned(), summary, tag: self.tag, shape });
        self
    }

    verb!(get, GET, "get");
    verb!(post, POST, "post");
    verb!(put, PUT, "put");
    verb!(patch, PATCH, "patch");
    verb!(delete, DELETE, "delete");

    /// The routes of a resource: list and create on its collection `base`; read, update and
    /// delete on one of it, `one`. `summaries` says what each does, in that order.
    pub fn resource<L, C, R, U, D, Tl, Tc, Tr, Tu, Td, Dl, Dc, Dr, Du, Dd>(
        self,
        (base, one): (&str, &str),
        summaries: [&'static str; 5],
        handlers: Resource<L, C, R, U, D>,
    ) -> Self
    where
        L: Handler<Tl, AppState> + Described<Dl>,
        C: Handler<Tc, AppState> + Described<Dc>,
        R: Handler<Tr, AppState> + Described<Dr>,
        U: Handler<Tu, AppState> + Described<Du>,
        D: Handler<Td, AppState> + Described<Dd>,
        (Tl, Tc, Tr, Tu, Td): 'static,
    {
        let [list, create, read, update, delete] = summaries;
        let routes =
            self.get(base, list, handlers.list).post(base, create, handlers.create).get(one, read, handlers.read);
        let routes = match handlers.update {
            Update::PutAndPatch(h) => routes.put(one, update, h.clone()).patch(one, update, h),
            Update::Put(h) => routes.put(one, update, h),
        };
        routes.delete(one, delete, handlers.delete)
    }

    pub fn merge(mut self, other: Routes) -> Self {
        self.router = self.router.merge(other.router);
        self.operations.extend(other.operations);
        self
    }

    pub fn into_parts(self) -> (axum::Router<AppState>, Vec<Operation>) {
        (self.router, self.operations)
    }
}
