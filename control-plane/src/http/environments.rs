//! `/api/v1/environments` (rules in [`crate::domain::environments`]).

use super::routes::Routes;
use super::top_level::{Described, router as top_level};
use crate::domain::environments::Environment;

pub fn router() -> Routes {
    top_level::<Environment>(Described {
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
