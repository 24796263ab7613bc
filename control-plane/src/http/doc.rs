//! What a handler's types say about its operation in the OpenAPI document: the schema of its
//! JSON body, its query parameters, whether it reads `If-Match`, and what it replies — read
//! from its extractor and reply types (utoipa's `ToSchema`/`IntoParams` of the Rust types), so
//! the document cannot drift from the handlers. [`super::routes::Routes`] asks every handler
//! it routes for its [`Shape`].

use std::future::Future;

use axum::Json as Reply;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::response::sse::Sse;
use utoipa::openapi::path::{Parameter, ParameterIn};
use utoipa::openapi::{ArrayBuilder, ObjectBuilder, Ref, RefOr, Schema};
use utoipa::{IntoParams, PartialSchema, ToSchema};

use super::extract::{IfMatch, Json, Path, Query};
use crate::domain::authz::Caller;
use crate::domain::paging::List;
use crate::domain::vane::Actor;
use crate::domain::versions::Change;

/// A named schema for the document's `components`.
pub type Component = (String, RefOr<Schema>);

/// What one operation takes and gives.
#[derive(Default, Clone)]
pub struct Shape {
    /// The JSON body it reads.
    pub body: Option<RefOr<Schema>>,
    /// Its query parameters.
    pub query: Vec<Parameter>,
    /// Whether `If-Match` names the version it expects.
    pub if_match: bool,
    /// What it answers on success.
    pub reply: Outcome,
    /// The named schemas its body and reply refer to.
    pub components: Vec<Component>,
}

/// A successful answer.
#[derive(Default, Clone)]
#[allow(missing_debug_implementations)] // schemas are not `Debug`; `Shape`'s says which kind
pub enum Outcome {
    /// 200 with this JSON body.
    Json(RefOr<Schema>),
    /// 201 with this JSON body.
    Created(RefOr<Schema>),
    /// 204, no body.
    NoContent,
    /// 200, a `text/event-stream`.
    Events,
    /// 200 with a body the handler builds itself (a snapshot: its bytes are the ETag's).
    #[default]
    Raw,
}

/// Schemas print as JSON, so a shape's `Debug` says only what kind of operation it is.
impl std::fmt::Debug for Shape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shape")
            .field("body", &self.body.is_some())
            .field("query", &self.query.len())
            .field("if_match", &self.if_match)
            .finish_non_exhaustive()
    }
}

/// `List<T>`'s schema (inlined where it is used, like every generic type: see [`schema_of`])
/// brings its item's schema along, which utoipa's derive leaves for the caller to register. The
/// numbers' schemas are the Rust types'.
impl<T: ToSchema> PartialSchema for List<T> {
    fn schema() -> RefOr<Schema> {
        let items = ArrayBuilder::new().items(RefOr::<Schema>::Ref(Ref::from_schema_name(T::name())));
        ObjectBuilder::new()
            .description(Some("A page of a list: its items, how many there are in all, and the page."))
            .property("items", items)
            .property("total", i64::schema())
            .property("limit", i64::schema())
            .property("offset", i64::schema())
            .required("items")
            .required("total")
            .required("limit")
            .required("offset")
            .into()
    }
}

impl<T: ToSchema> ToSchema for List<T> {
    fn schemas(schemas: &mut Vec<Component>) {
        schemas.push((T::name().into_owned(), T::schema()));
        T::schemas(schemas);
    }
}

/// `T` where a body or reply is: a reference to its named schema (collected into
/// `components`), or the schema itself for generic types (`List<FlagView>`: utoipa names every
/// instance of a generic type alike) and free JSON.
pub fn schema_of<T: ToSchema>(components: &mut Vec<Component>) -> RefOr<Schema> {
    T::schemas(components);
    let name = T::name();
    if std::any::type_name::<T>().contains('<') || name == "Value" {
        return T::schema();
    }
    components.push((name.to_string(), T::schema()));
    RefOr::Ref(Ref::from_schema_name(name))
}

/// An extractor's part in the operation (nothing, unless it reads the body, the query or
/// `If-Match`).
pub trait Part {
    fn describe(_shape: &mut Shape) {}
}

impl Part for Actor {}
impl Part for Caller {}
impl Part for HeaderMap {}
impl<S> Part for State<S> {}
/// Path parameters are read from the route's template.
impl<T> Part for Path<T> {}

impl Part for IfMatch {
    fn describe(shape: &mut Shape) {
        shape.if_match = true;
    }
}

impl<T: ToSchema> Part for Json<T> {
    fn describe(shape: &mut Shape) {
        shape.body = Some(schema_of::<T>(&mut shape.components));
    }
}

impl<B: ToSchema> Part for Change<B> {
    fn describe(shape: &mut Shape) {
        shape.body = Some(schema_of::<B>(&mut shape.components));
        shape.if_match = true;
    }
}

impl<T: IntoParams> Part for Query<T> {
    fn describe(shape: &mut Shape) {
        shape.query.extend(T::into_params(|| Some(ParameterIn::Query)));
    }
}

/// A reply type's part: what a success looks like.
pub trait Answer {
    fn describe(shape: &mut Shape);
}

impl<T: ToSchema> Answer for Reply<T> {
    fn describe(shape: &mut Shape) {
        shape.reply = Outcome::Json(schema_of::<T>(&mut shape.components));
    }
}

/// Handlers answer `(StatusCode::CREATED, body)` when they create.
impl<T: ToSchema> Answer for (StatusCode, Reply<T>) {
    fn describe(shape: &mut Shape) {
        shape.reply = Outcome::Created(schema_of::<T>(&mut shape.components));
    }
}

/// Handlers answer a bare status when there is nothing to say: 204.
impl Answer for StatusCode {
    fn describe(shape: &mut Shape) {
        shape.reply = Outcome::NoContent;
    }
}

impl<S> Answer for Sse<S> {
    fn describe(shape: &mut Shape) {
        shape.reply = Outcome::Events;
    }
}

impl Answer for Response {
    fn describe(shape: &mut Shape) {
        shape.reply = Outcome::Raw;
    }
}

/// Errors are the same everywhere (the document's `Error` responses).
impl<T: Answer, E> Answer for Result<T, E> {
    fn describe(shape: &mut Shape) {
        T::describe(shape);
    }
}

/// A handler whose parts and answer describe it; `Args` are its argument types.
pub trait Described<Args> {
    fn shape() -> Shape;
}

macro_rules! described {
    ($($arg:ident),*) => {
        impl<F, Fut, O, $($arg),*> Described<($($arg,)*)> for F
        where
            F: Fn($($arg),*) -> Fut,
            Fut: Future<Output = O>,
            O: Answer,
            $($arg: Part,)*
        {
            fn shape() -> Shape {
                let mut shape = Shape::default();
                $($arg::describe(&mut shape);)*
                O::describe(&mut shape);
                shape
            }
        }
    };
}

described!();
described!(A1);
described!(A1, A2);
described!(A1, A2, A3);
described!(A1, A2, A3, A4);
described!(A1, A2, A3, A4, A5);
described!(A1, A2, A3, A4, A5, A6);
