//! The body of `POST /api/v1/attachments`: a file an activity will name,
//! announced before it is uploaded so the upload link can hold it to its
//! type's size.

use serde::{Deserialize, Serialize};

use super::FieldError;
use super::request::optional_org_id;

/// The file types an attachment may have (attendance lists, certificates,
/// photos of a sign-in sheet): content type and the extensions it goes by.
pub const ATTACHMENT_TYPES: &[(&str, &[&str])] = &[
    ("application/pdf", &["pdf"]),
    ("image/png", &["png"]),
    ("image/jpeg", &["jpg", "jpeg"]),
    ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", &["docx"]),
    ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", &["xlsx"]),
];

/// The largest attachment taken.
pub const MAX_ATTACHMENT_BYTES: u64 = 25 * 1024 * 1024;

/// Longest file name kept, in characters.
const MAX_NAME_CHARS: usize = 200;

#[derive(Clone, Debug, Default, Deserialize, Serialize, utoipa::ToSchema)]
pub struct CreateAttachmentRequest {
    /// May be left out when the token names exactly one organisation.
    #[serde(default)]
    #[schema(value_type = Option<String>, pattern = r"^[A-Za-z0-9_-]{1,100}$", example = "org-bufdir-042")]
    pub org_id: Option<String>,
    /// The file's name as the person knows it; the activity shows it.
    #[serde(default)]
    #[schema(value_type = String, required = true, example = "oppmøteliste mars.pdf")]
    pub filename: Option<String>,
    /// One of `application/pdf`, `image/png`, `image/jpeg`, and the Word
    /// and Excel (`.docx`, `.xlsx`) types; must fit the name's extension.
    #[serde(default)]
    #[schema(value_type = String, required = true, example = "application/pdf")]
    pub content_type: Option<String>,
    /// The file's size; the upload link takes no more than this (at most 25 MiB).
    #[serde(default)]
    #[schema(value_type = u64, required = true, minimum = 1, maximum = 26214400, example = 48213)]
    pub size_bytes: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidAttachmentRequest {
    pub org_id: Option<String>,
    pub filename: String,
    pub content_type: String,
    pub size_bytes: u64,
}

impl CreateAttachmentRequest {
    pub fn validate(&self) -> Result<ValidAttachmentRequest, Vec<FieldError>> {
        let mut errors = Vec::new();
        let org_id = optional_org_id(self.org_id.as_deref(), &mut errors);
        let filename = self.filename.as_deref().map(str::trim).unwrap_or_default();
        let name_ok = !filename.is_empty()
            && filename.chars().count() <= MAX_NAME_CHARS
            && !filename.chars().any(|c| c.is_control() || c == '/' || c == '\\')
            && filename != "."
            && filename != "..";
        if !name_ok {
            errors.push(FieldError::new(
                "filename",
                format!("must be 1 to {MAX_NAME_CHARS} characters, without slashes or control characters"),
            ));
        }
        let extension = filename.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
        let content_type = self.content_type.as_deref().map(|c| c.trim().to_ascii_lowercase()).unwrap_or_default();
        match ATTACHMENT_TYPES.iter().find(|(t, _)| *t == content_type) {
            None => errors.push(FieldError::new(
                "content_type",
                format!("must be one of {}", ATTACHMENT_TYPES.iter().map(|(t, _)| *t).collect::<Vec<_>>().join(", ")),
            )),
            Some((_, extensions)) if name_ok && !extensions.contains(&extension.as_str()) => {
                errors.push(FieldError::new(
                    "filename",
                    format!("a {content_type} file's name ends in .{}", extensions.join(" or .")),
                ))
            }
            Some(_) => {}
        }
        let size_bytes = match self.size_bytes {
            Some(n @ 1..=MAX_ATTACHMENT_BYTES) => n,
            _ => {
                errors.push(FieldError::new("size_bytes", format!("must be from 1 to {MAX_ATTACHMENT_BYTES}")));
                0
            }
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(ValidAttachmentRequest { org_id, filename: filename.to_string(), content_type, size_bytes })
    }
}

impl ValidAttachmentRequest {
    /// The name as a key segment: letters, digits, `.`, `-`, `_` (storage
    /// keys take no more), the extension kept.
    pub fn key_name(&self) -> String {
        let safe: String = self
            .filename
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') { c } else { '_' })
            .collect();
        let safe = safe.trim_start_matches('.');
        if safe.is_empty() { "file".to_string() } else { safe.chars().take(120).collect() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(name: &str, ct: &str, size: u64) -> CreateAttachmentRequest {
        CreateAttachmentRequest {
            org_id: None,
            filename: Some(name.into()),
            content_type: Some(ct.into()),
            size_bytes: Some(size),
        }
    }

    #[test]
    fn a_known_type_with_its_extension_and_size_passes() {
        let v = request("Oppmøteliste mars.PDF", "application/pdf", 10).validate().unwrap();
        assert_eq!(v.key_name(), "Oppm_teliste_mars.PDF");
        assert!(request("bilde.jpeg", "image/jpeg", MAX_ATTACHMENT_BYTES).validate().is_ok());
        assert_eq!(request("..pdf", "application/pdf", 1).validate().unwrap().key_name(), "pdf");
    }

    #[test]
    fn anything_else_names_its_field() {
        let fields = |r: CreateAttachmentRequest| -> Vec<String> {
            r.validate().unwrap_err().into_iter().map(|e| e.field).collect()
        };
        assert_eq!(fields(request("x.exe", "application/x-msdownload", 10)), ["content_type"]);
        assert_eq!(fields(request("x.png", "application/pdf", 10)), ["filename"]);
        assert_eq!(fields(request("../x.pdf", "application/pdf", 10)), ["filename"]);
        assert_eq!(fields(request("x.pdf", "application/pdf", 0)), ["size_bytes"]);
        assert_eq!(fields(request("x.pdf", "application/pdf", MAX_ATTACHMENT_BYTES + 1)), ["size_bytes"]);
        assert_eq!(fields(CreateAttachmentRequest::default()), ["filename", "content_type", "size_bytes"]);
    }
}
