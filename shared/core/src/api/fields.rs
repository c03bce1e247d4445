//! Form fields from any of the accepted request bodies: url-encoded, JSON, or
//! (parsed by the edge) multipart.

use std::collections::BTreeMap;

use crate::error::ApiError;

/// Text fields of a request body by name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Fields(pub BTreeMap<String, String>);

impl Fields {
    /// Parses a url-encoded or JSON body; an empty body gives no fields.
    pub fn from_body(content_type: Option<&str>, body: &[u8]) -> Result<Fields, ApiError> {
        if body.iter().all(|b| b.is_ascii_whitespace()) {
            return Ok(Fields::default());
        }
        let media_type = content_type.unwrap_or("").split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        if media_type == "application/json" || media_type.ends_with("+json") {
            return Self::from_json(body);
        }
        if media_type.is_empty() || media_type == "application/x-www-form-urlencoded" {
            if body.first() == Some(&b'{') {
                return Self::from_json(body);
            }
            let pairs = form_urlencoded::parse(body).into_owned().collect();
            return Ok(Fields(pairs));
        }
        Err(ApiError::BadRequest(format!(
            "unsupported Content-Type `{media_type}`; send multipart/form-data, \
             application/x-www-form-urlencoded or application/json"
        )))
    }

    fn from_json(body: &[u8]) -> Result<Fields, ApiError> {
        let value: serde_json::Value = serde_json::from_slice(body)
            .map_err(|e| ApiError::BadRequest(format!("invalid JSON body: {e}")))?;
        let serde_json::Value::Object(object) = value else {
            return Err(ApiError::BadRequest("the JSON body must be an object".into()));
        };
        let mut fields = BTreeMap::new();
        for (name, value) in object {
            let text = match value {
                serde_json::Value::String(s) => s,
                serde_json::Value::Null => continue,
                serde_json::Value::Number(n) => n.to_string(),
                serde_json::Value::Bool(b) => b.to_string(),
                other => other.to_string(),
            };
            fields.insert(name, text);
        }
        Ok(Fields(fields))
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    pub fn insert(&mut self, name: &str, value: String) {
        self.0.insert(name.to_string(), value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urlencoded_and_json_agree() {
        let form = Fields::from_body(Some("application/x-www-form-urlencoded"), b"version=3.9&x=a%20b").expect("parses");
        assert_eq!(form.get("version"), Some("3.9"));
        assert_eq!(form.get("x"), Some("a b"));
        let json = Fields::from_body(Some("application/json"), br#"{"version": "3.9", "cores": 4}"#).expect("parses");
        assert_eq!(json.get("version"), Some("3.9"));
        assert_eq!(json.get("cores"), Some("4"));
    }

    #[test]
    fn bad_json_is_400() {
        let error = Fields::from_body(Some("application/json"), b"{nope").expect_err("invalid");
        assert_eq!(error.status(), 400);
        let error = Fields::from_body(Some("application/json"), b"[1]").expect_err("not an object");
        assert_eq!(error.status(), 400);
    }

    #[test]
    fn unknown_content_type_is_400() {
        let error = Fields::from_body(Some("text/csv"), b"a,b").expect_err("unsupported");
        assert!(error.to_string().contains("text/csv"));
    }
}
