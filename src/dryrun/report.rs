//! The report of a dry run: what drover would do now for each resource in the files.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use serde::Serialize;

/// The report: one entry per drover resource in the files.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub resources: Vec<ResourcePlan>,
    /// Documents of other API groups, skipped (`FILE: Kind/name`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<String>,
    /// What a dry run cannot know.
    pub notes: Vec<String>,
}

/// What drover would do now for one resource.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourcePlan {
    pub kind: String,
    pub name: String,
    pub file: String,
    /// The site the spec declares; none: it stays where it is.
    pub desired_site: Option<String>,
    /// The site observed serving (primary, active data center).
    pub observed_site: Option<String>,
    pub phase: Option<String>,
    pub next: NextStep,
    /// The runbook's remaining steps after `next`, when the planner keeps one.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub runbook: Vec<String>,
    /// Each server as observed.
    pub servers: Vec<ServerLine>,
    /// The conditions drover would write.
    pub conditions: Vec<ConditionLine>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// The planner's answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase", tag = "type")]
pub enum NextStep {
    /// Nothing to do.
    Steady,
    /// Something is under way; drover would look again soon.
    Wait { reason: String },
    /// Nothing drover may do until a person or the world changes something.
    Blocked { reason: String },
    /// The statement drover would run now, on `server`.
    Sql {
        action: String,
        server: String,
        sql: String,
        reason: String,
    },
    /// The hook Job drover would create (a cmdlet of the chat product).
    Hook {
        action: String,
        site: String,
        arguments: Vec<String>,
    },
    /// What a DrSite would write into a child's spec.
    SetChildSite { child: String, site: String },
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerLine {
    pub server: String,
    pub site: String,
    pub reachable: bool,
    pub role: Option<String>,
    pub availability_mode: Option<String>,
    pub problem: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConditionLine {
    #[serde(rename = "type")]
    pub type_: String,
    pub status: String,
    pub reason: String,
    pub message: String,
}

impl From<&Condition> for ConditionLine {
    fn from(c: &Condition) -> Self {
        Self {
            type_: c.type_.clone(),
            status: c.status.clone(),
            reason: c.reason.clone(),
            message: c.message.clone(),
        }
    }
}
