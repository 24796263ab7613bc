//! `/api/v1/environments` (rules in [`crate::domain::environments`]).

use super::collection::{Described, router as collection};
use super::routes::Routes;
use crate::domain::environments::Environment;

pub fn router() -> Routes {
    collection::<Environment>(Described {
        tag: "environments",
        base: "/environments",
        param: "environment",
        summaries: [
            "List environments",
            "Create an environment",
            "Read an environment",
            "Update an environment (staleness settings)",
            "Delete an environment",
        ],
    })
}
