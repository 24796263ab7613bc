//! `/api/v1/applications/{application}/environments/{environment}/configs` (rules in
//! [`crate::domain::configs`]).

use super::collection::{Described, router as collection, versions};
use super::routes::Routes;
use crate::domain::configs::Configs;

pub fn router() -> Routes {
    const ONE: &str = "/applications/{application}/environments/{environment}/configs/{key}";
    collection::<Configs>(Described {
        tag: "configs",
        base: "/applications/{application}/environments/{environment}/configs",
        param: "key",
        summaries: [
            "List configs",
            "Create a config",
            "Read a config (secrets decrypted for admin/read keys)",
            "Update a config",
            "Delete a config",
        ],
    })
    .merge(versions::<Configs>(
        "configs",
        ONE,
        ["Every version of a config", "Restore an earlier version as a new version"],
    ))
}
