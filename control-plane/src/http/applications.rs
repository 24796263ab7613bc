//! `/api/v1/applications` (rules in [`crate::domain::applications`]).

use super::routes::Routes;
use super::top_level::{Described, router as top_level};
use crate::domain::applications::Application;

pub fn router() -> Routes {
    top_level::<Application>(Described {
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
