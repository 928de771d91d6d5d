//! API errors as `metav1.Status` objects, with the `reason` and `code` the real server uses, since
//! clients (kubectl, kube-rs) branch on them.

use serde_json::{Value, json};

#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    pub details: Option<Value>,
}

impl ApiError {
    fn new(code: u16, reason: &'static str, message: String) -> Self {
        Self {
            code,
            reason,
            message,
            details: None,
        }
    }

    /// `<resource>.<group> "<name>" not found`, as kube-apiserver words it.
    pub fn not_found(qualified_resource: &str, name: &str) -> Self {
        Self::new(
            404,
            "NotFound",
            format!("{qualified_resource} {name:?} not found"),
        )
        .with_details(name, qualified_resource)
    }

    pub fn already_exists(qualified_resource: &str, name: &str) -> Self {
        Self::new(
            409,
            "AlreadyExists",
            format!("{qualified_resource} {name:?} already exists"),
        )
        .with_details(name, qualified_resource)
    }

    pub fn conflict(qualified_resource: &str, name: &str, why: &str) -> Self {
        Self::new(
            409,
            "Conflict",
            format!("Operation cannot be fulfilled on {qualified_resource} {name:?}: {why}"),
        )
        .with_details(name, qualified_resource)
    }

    /// A `409 Conflict` whose message stands alone (server-side apply conflicts).
    pub fn conflict_plain(message: String) -> Self {
        Self::new(409, "Conflict", message)
    }

    pub fn invalid(message: String) -> Self {
        Self::new(422, "Invalid", message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(403, "Forbidden", message.into())
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message.into())
    }

    pub fn gone(message: impl Into<String>) -> Self {
        Self::new(410, "Expired", message.into())
    }

    pub fn method_not_allowed(message: impl Into<String>) -> Self {
        Self::new(405, "MethodNotAllowed", message.into())
    }

    pub fn unsupported_media_type(content_type: &str) -> Self {
        let mut e = Self::unknown_format(
            "application/json, application/merge-patch+json, application/json-patch+json, application/strategic-merge-patch+json, application/apply-patch+yaml",
        );
        e.message.push_str(&format!(" (got {content_type:?})"));
        e
    }

    /// `415`: a body in a media type this endpoint does not take, and the ones it does.
    pub fn unknown_format(accepted: &str) -> Self {
        Self::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: {accepted}"
            ),
        )
    }

    /// `422 Invalid` for field errors: the message and the `details.causes` kubectl lists.
    pub fn invalid_fields(
        kind: &str,
        group: &str,
        name: &str,
        errors: &[super::validation::FieldError],
    ) -> Self {
        let mut e = Self::invalid(super::validation::invalid_message(
            kind, group, name, errors,
        ));
        e.details = Some(super::validation::invalid_details(
            kind, group, name, errors,
        ));
        e
    }

    pub fn not_found_path(path: &str) -> Self {
        Self::new(
            404,
            "NotFound",
            format!("the server could not find the requested resource ({path})"),
        )
    }

    fn with_details(mut self, name: &str, qualified_resource: &str) -> Self {
        let (kind, group) = qualified_resource
            .split_once('.')
            .unwrap_or((qualified_resource, ""));
        self.details = Some(json!({"name": name, "group": group, "kind": kind}));
        self
    }

    /// The `Status` object sent as the response body.
    pub fn to_status(&self) -> Value {
        let mut s = json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {},
            "status": "Failure", "message": self.message, "reason": self.reason, "code": self.code,
        });
        if let Some(d) = &self.details {
            s["details"] = d.clone();
        }
        s
    }
}
