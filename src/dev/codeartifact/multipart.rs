//! Just enough `multipart/form-data` parsing for the legacy upload API: named text fields and
//! file parts, from a body already bounded in size.

pub struct Form<'a> {
    parts: Vec<(String, Option<String>, &'a [u8])>,
}

impl<'a> Form<'a> {
    pub fn field(&self, name: &str) -> Option<&str> {
        self.parts
            .iter()
            .find(|(n, f, _)| n == name && f.is_none())
            .and_then(|(_, _, v)| std::str::from_utf8(v).ok())
    }

    pub fn file(&self, name: &str) -> Option<(&str, &'a [u8])> {
        self.parts
            .iter()
            .find(|(n, f, _)| n == name && f.is_some())
            .and_then(|(_, f, v)| f.as_deref().map(|f| (f, *v)))
    }
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    haystack
        .get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

fn param(header: &str, key: &str) -> Option<String> {
    header.split(';').map(str::trim).find_map(|p| {
        p.strip_prefix(key)
            .and_then(|v| v.strip_prefix('='))
            .map(|v| v.trim_matches('"').to_string())
    })
}

pub fn parse<'a>(content_type: &str, body: &'a [u8]) -> Option<Form<'a>> {
    if !content_type.starts_with("multipart/form-data") {
        return None;
    }
    let boundary = format!("--{}", param(content_type, "boundary")?);
    let mut parts = Vec::new();
    let mut at = find(body, boundary.as_bytes(), 0)? + boundary.len();
    loop {
        if body.get(at..at + 2) == Some(b"--") {
            break;
        }
        let headers_start = at + 2;
        let headers_end = find(body, b"\r\n\r\n", headers_start)?;
        let headers = std::str::from_utf8(&body[headers_start..headers_end]).ok()?;
        let disposition = headers
            .lines()
            .find(|l| l.to_ascii_lowercase().starts_with("content-disposition"))?;
        let name = param(disposition, "name")?;
        let filename = param(disposition, "filename");
        let data_start = headers_end + 4;
        let next = find(body, format!("\r\n{boundary}").as_bytes(), data_start)?;
        parts.push((name, filename, &body[data_start..next]));
        at = next + 2 + boundary.len();
    }
    Some(Form { parts })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_and_files() {
        let body = b"--XyZ\r\nContent-Disposition: form-data; name=\":action\"\r\n\r\nfile_upload\r\n--XyZ\r\nContent-Disposition: form-data; name=\"content\"; filename=\"a-1.0.tar.gz\"\r\nContent-Type: application/octet-stream\r\n\r\n\x00\x01\r\n\x02\r\n--XyZ--\r\n";
        let form = parse("multipart/form-data; boundary=XyZ", body).expect("form");
        assert_eq!(form.field(":action"), Some("file_upload"));
        assert_eq!(
            form.file("content"),
            Some(("a-1.0.tar.gz", &b"\x00\x01\r\n\x02"[..]))
        );
        assert!(parse("application/json", body).is_none());
    }
}
