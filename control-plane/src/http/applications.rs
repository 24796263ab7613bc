//! `/api/v1/applications` (rules in [`crate::domain::applications`]).

use super::collection::{Described, router as collection};
use super::routes::Routes;
use crate::domain::applications::Application;

pub fn router() -> Routes {
    collection::<Application>(Described {
        tag: "applications",
        base: "/applications",
        param: "application",
        summaries: [
            "List applications",
            "Create an application (key derived from the name when absent)",
            "Read an application (by key or id)",
            "Update an application",
            "Delete an application and everything in it",
        ],
    })
}
