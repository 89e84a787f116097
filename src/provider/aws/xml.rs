//! Reading IAM's query-API answers (XML), and sorting its errors into [`ProviderError`]s.
//! Pure: text in, values out. Nothing read here is put in an error but the error code and
//! message AWS sent in an error document (which never holds a key's secret); a malformed
//! answer is reported with a fixed text, since its body may hold one.

use roxmltree::{Document, Node};
use secrecy::SecretString;
use time::OffsetDateTime;
use time::format_description::well_known::{Iso8601, Rfc3339};

use crate::provider::{KeyId, KeyStatus, LastUse, ProviderError, Receipt, Refusal};

/// Longest error message kept from AWS; longer ones are cut, since they end up in comments.
const MAX_MESSAGE: usize = 300;

/// One page of `ListAccessKeys`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPage {
    pub keys: Vec<ListedKey>,
    /// Where the next page starts, when the answer was truncated.
    pub marker: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedKey {
    pub key_id: KeyId,
    pub status: KeyStatus,
    pub created: Option<OffsetDateTime>,
}

/// The `Code` and `Message` of an AWS error document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsError {
    pub code: String,
    pub message: String,
}

fn child<'a, 'input>(node: Node<'a, 'input>, name: &str) -> Option<Node<'a, 'input>> {
    node.children()
        .find(|c| c.is_element() && c.tag_name().name() == name)
}

fn text<'a>(node: Node<'a, '_>, name: &str) -> Option<&'a str> {
    child(node, name).and_then(|c| c.text()).map(str::trim)
}

fn descendant<'a, 'input>(doc: &'a Document<'input>, name: &str) -> Option<Node<'a, 'input>> {
    doc.descendants()
        .find(|n| n.is_element() && n.tag_name().name() == name)
}

fn parse<'a>(call: &'static str, body: &'a str) -> Result<Document<'a>, ProviderError> {
    // roxmltree's error names a position only, but a fixed text is enough and surely safe.
    Document::parse(body).map_err(|_| invalid(call, "the answer is not XML"))
}

fn invalid(call: &'static str, detail: &str) -> ProviderError {
    ProviderError::Invalid {
        call,
        detail: detail.to_owned(),
    }
}

pub fn parse_date(text: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text, &Rfc3339)
        .or_else(|_| OffsetDateTime::parse(text, &Iso8601::DEFAULT))
        .ok()
}

fn parse_status(call: &'static str, text: Option<&str>) -> Result<KeyStatus, ProviderError> {
    match text {
        Some("Active") => Ok(KeyStatus::Active),
        Some("Inactive") => Ok(KeyStatus::Inactive),
        _ => Err(invalid(
            call,
            "a key's status is neither Active nor Inactive",
        )),
    }
}

/// The receipt and the secret of a new key. The body holds the secret: the caller wipes it.
pub fn parse_create_access_key(body: &str) -> Result<(Receipt, SecretString), ProviderError> {
    const CALL: &str = "CreateAccessKey";
    let doc = parse(CALL, body)?;
    let key = descendant(&doc, "AccessKey").ok_or_else(|| invalid(CALL, "no AccessKey"))?;
    let key_id = text(key, "AccessKeyId")
        .filter(|id| !id.is_empty())
        .ok_or_else(|| invalid(CALL, "no AccessKeyId"))?;
    let secret = text(key, "SecretAccessKey")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| invalid(CALL, "no SecretAccessKey"))?;
    let receipt = Receipt {
        key_id: KeyId::new(key_id),
        created: text(key, "CreateDate").and_then(parse_date),
    };
    Ok((receipt, SecretString::from(secret.to_owned())))
}

pub fn parse_list_access_keys(body: &str) -> Result<KeyPage, ProviderError> {
    const CALL: &str = "ListAccessKeys";
    let doc = parse(CALL, body)?;
    let result =
        descendant(&doc, "ListAccessKeysResult").ok_or_else(|| invalid(CALL, "no result"))?;
    let mut keys = Vec::new();
    if let Some(metadata) = child(result, "AccessKeyMetadata") {
        for member in metadata
            .children()
            .filter(|c| c.is_element() && c.tag_name().name() == "member")
        {
            let key_id = text(member, "AccessKeyId")
                .filter(|id| !id.is_empty())
                .ok_or_else(|| invalid(CALL, "a key without AccessKeyId"))?;
            keys.push(ListedKey {
                key_id: KeyId::new(key_id),
                status: parse_status(CALL, text(member, "Status"))?,
                created: text(member, "CreateDate").and_then(parse_date),
            });
        }
    }
    let truncated = text(result, "IsTruncated") == Some("true");
    let marker = if truncated {
        Some(
            text(result, "Marker")
                .filter(|m| !m.is_empty())
                .ok_or_else(|| invalid(CALL, "truncated without a Marker"))?
                .to_owned(),
        )
    } else {
        None
    };
    Ok(KeyPage { keys, marker })
}

/// `None`: never used. AWS answers a never-used key with no date and `N/A` for the service
/// and region.
pub fn parse_last_used(body: &str) -> Result<Option<LastUse>, ProviderError> {
    const CALL: &str = "GetAccessKeyLastUsed";
    let doc = parse(CALL, body)?;
    let used = descendant(&doc, "AccessKeyLastUsed").ok_or_else(|| invalid(CALL, "no result"))?;
    let Some(date) = text(used, "LastUsedDate").filter(|d| !d.is_empty()) else {
        return Ok(None);
    };
    let date = parse_date(date).ok_or_else(|| invalid(CALL, "LastUsedDate is not a date"))?;
    let known = |name| {
        text(used, name)
            .filter(|v| !v.is_empty() && *v != "N/A")
            .map(str::to_owned)
    };
    Ok(Some(LastUse {
        date,
        service: known("ServiceName"),
        region: known("Region"),
    }))
}

/// The code and message of an AWS error document (`ErrorResponse/Error`, or the
/// `Response/Errors/Error` some services and emulators send), if the body is one.
pub fn parse_error(body: &str) -> Option<AwsError> {
    let doc = Document::parse(body).ok()?;
    let error = descendant(&doc, "Error")?;
    let code = text(error, "Code").filter(|c| !c.is_empty())?;
    let message = text(error, "Message").unwrap_or_default();
    Some(AwsError {
        code: clean(code),
        message: clean(message),
    })
}

fn clean(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX_MESSAGE)
        .collect()
}

/// What a failed answer means for the caller: try again, stop for a person, or distrust.
pub fn classify(call: &'static str, status: u16, error: Option<AwsError>) -> ProviderError {
    let Some(AwsError { code, message }) = error else {
        return if status >= 500 || status == 429 {
            ProviderError::Transient {
                call,
                detail: format!("HTTP {status}"),
            }
        } else {
            invalid(
                call,
                &format!("HTTP {status} without an AWS error document"),
            )
        };
    };
    let transient = status >= 500
        || status == 429
        || matches!(
            code.as_str(),
            "Throttling"
                | "ThrottlingException"
                | "RequestLimitExceeded"
                | "ServiceUnavailable"
                | "ServiceFailure"
                | "InternalFailure"
                | "RequestTimeout"
                // Temporary credentials ran out between fetching and sending: the next try
                // fetches fresh ones.
                | "ExpiredToken"
        );
    if transient {
        return ProviderError::Transient {
            call,
            detail: format!("HTTP {status} {code}: {message}"),
        };
    }
    let refusal = match code.as_str() {
        "LimitExceeded" => Refusal::LimitExceeded,
        "NoSuchEntity" => Refusal::NoSuchEntity,
        "AccessDenied"
        | "AccessDeniedException"
        | "InvalidClientTokenId"
        | "SignatureDoesNotMatch"
        | "UnrecognizedClientException" => Refusal::AccessDenied,
        _ => Refusal::Other(code),
    };
    ProviderError::Refused {
        call,
        refusal,
        message,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use secrecy::ExposeSecret;
    use time::macros::datetime;

    use super::*;

    #[test]
    fn reads_a_new_key() {
        let body = r#"<CreateAccessKeyResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/">
          <CreateAccessKeyResult><AccessKey>
            <UserName>ci</UserName><AccessKeyId>AKIAEXAMPLE</AccessKeyId><Status>Active</Status>
            <SecretAccessKey>s3cr3t/value+x</SecretAccessKey>
            <CreateDate>2026-12-03T20:08:08Z</CreateDate>
          </AccessKey></CreateAccessKeyResult>
          <ResponseMetadata><RequestId>1</RequestId></ResponseMetadata>
        </CreateAccessKeyResponse>"#;
        let (receipt, secret) = parse_create_access_key(body).unwrap();
        assert_eq!(receipt.key_id, KeyId::new("AKIAEXAMPLE"));
        assert_eq!(receipt.created, Some(datetime!(2026-12-03 20:08:08 UTC)));
        assert_eq!(secret.expose_secret(), "s3cr3t/value+x");
    }

    #[test]
    fn a_new_key_without_its_secret_is_invalid_and_says_nothing_else() {
        let body = "<CreateAccessKeyResponse><CreateAccessKeyResult><AccessKey>\
            <AccessKeyId>AKIAEXAMPLE</AccessKeyId></AccessKey></CreateAccessKeyResult>\
            </CreateAccessKeyResponse>";
        let err = parse_create_access_key(body).unwrap_err();
        assert_eq!(
            err.to_string(),
            "CreateAccessKey: invalid answer: no SecretAccessKey"
        );
    }

    #[test]
    fn reads_a_page_of_keys() {
        let body = r#"<ListAccessKeysResponse><ListAccessKeysResult>
          <AccessKeyMetadata>
            <member><UserName>ci</UserName><AccessKeyId>AKIA1</AccessKeyId>
              <Status>Active</Status><CreateDate>2026-01-01T00:00:00.000Z</CreateDate></member>
            <member><UserName>ci</UserName><AccessKeyId>AKIA2</AccessKeyId>
              <Status>Inactive</Status><CreateDate>2026-02-01T00:00:00+00:00</CreateDate></member>
          </AccessKeyMetadata>
          <IsTruncated>true</IsTruncated><Marker>next</Marker>
        </ListAccessKeysResult></ListAccessKeysResponse>"#;
        let page = parse_list_access_keys(body).unwrap();
        assert_eq!(page.marker.as_deref(), Some("next"));
        assert_eq!(
            page.keys,
            vec![
                ListedKey {
                    key_id: KeyId::new("AKIA1"),
                    status: KeyStatus::Active,
                    created: Some(datetime!(2026-01-01 0:00 UTC)),
                },
                ListedKey {
                    key_id: KeyId::new("AKIA2"),
                    status: KeyStatus::Inactive,
                    created: Some(datetime!(2026-02-01 0:00 UTC)),
                },
            ]
        );
    }

    #[test]
    fn a_user_without_keys_has_an_empty_page() {
        let body = "<ListAccessKeysResponse><ListAccessKeysResult><AccessKeyMetadata/>\
            <IsTruncated>false</IsTruncated></ListAccessKeysResult></ListAccessKeysResponse>";
        let page = parse_list_access_keys(body).unwrap();
        assert_eq!(page.keys, vec![]);
        assert_eq!(page.marker, None);
    }

    #[test]
    fn a_never_used_key_has_no_last_use() {
        let body = "<GetAccessKeyLastUsedResponse><GetAccessKeyLastUsedResult>\
            <UserName>ci</UserName><AccessKeyLastUsed><ServiceName>N/A</ServiceName>\
            <Region>N/A</Region></AccessKeyLastUsed></GetAccessKeyLastUsedResult>\
            </GetAccessKeyLastUsedResponse>";
        assert_eq!(parse_last_used(body).unwrap(), None);
    }

    #[test]
    fn a_used_key_has_its_last_use() {
        let body = "<GetAccessKeyLastUsedResponse><GetAccessKeyLastUsedResult>\
            <AccessKeyLastUsed><LastUsedDate>2026-12-03T10:00:00Z</LastUsedDate>\
            <ServiceName>sts</ServiceName><Region>us-east-1</Region></AccessKeyLastUsed>\
            </GetAccessKeyLastUsedResult></GetAccessKeyLastUsedResponse>";
        assert_eq!(
            parse_last_used(body).unwrap(),
            Some(LastUse {
                date: datetime!(2026-12-03 10:00 UTC),
                service: Some("sts".into()),
                region: Some("us-east-1".into()),
            })
        );
    }

    #[test]
    fn errors_are_sorted_by_what_the_caller_does_next() {
        let doc = |code: &str| {
            parse_error(&format!(
                "<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code>\
                 <Message>why\nnot</Message></Error><RequestId>1</RequestId></ErrorResponse>"
            ))
        };
        assert_eq!(
            classify("CreateAccessKey", 409, doc("LimitExceeded")),
            ProviderError::Refused {
                call: "CreateAccessKey",
                refusal: Refusal::LimitExceeded,
                message: "why not".into(),
            }
        );
        assert_eq!(
            classify("DeleteAccessKey", 404, doc("NoSuchEntity")).refusal(),
            Some(&Refusal::NoSuchEntity)
        );
        assert_eq!(
            classify("ListAccessKeys", 403, doc("AccessDenied")).refusal(),
            Some(&Refusal::AccessDenied)
        );
        assert!(classify("ListAccessKeys", 400, doc("Throttling")).is_transient());
        assert!(classify("ListAccessKeys", 503, None).is_transient());
        assert!(matches!(
            classify("ListAccessKeys", 400, None),
            ProviderError::Invalid { .. }
        ));
        assert_eq!(
            classify("ListAccessKeys", 400, doc("ValidationError")).refusal(),
            Some(&Refusal::Other("ValidationError".into()))
        );
    }

    #[test]
    fn the_other_error_layout_is_read_too() {
        let body = "<Response><Errors><Error><Code>NoSuchEntity</Code><Message>gone</Message>\
            </Error></Errors></Response>";
        assert_eq!(
            parse_error(body),
            Some(AwsError {
                code: "NoSuchEntity".into(),
                message: "gone".into()
            })
        );
    }
}
