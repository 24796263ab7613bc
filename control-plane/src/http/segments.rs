//! `/api/v1/applications/{application}/segments` (rules in [`crate::domain::segments`]).

use super::collection::{Described, router as collection};
use super::routes::Routes;
use crate::domain::segments::Segments;

pub fn router() -> Routes {
    collection::<Segments>(Described {
        tag: "segments",
        base: "/applications/{application}/segments",
        param: "segment",
        summaries: [
            "List segments",
            "Create a segment",
            "Read a segment",
            "Update a segment",
            "Delete a segment (refused while a flag uses it)",
        ],
    })
}
